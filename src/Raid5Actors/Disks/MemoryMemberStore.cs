namespace Raid5Actors.Disks;

/// <summary>A member held in memory. Flush is a no-op: memory members are for tests and benchmarks.</summary>
public sealed class MemoryMemberStore(string name, byte[] bytes) : IMemberStore
{
    public string Name { get; } = name;

    public long LengthBytes => bytes.LongLength;

    public void Read(long offsetBytes, Span<byte> destination) =>
        bytes.AsSpan(checked((int)offsetBytes), destination.Length).CopyTo(destination);

    public void Write(long offsetBytes, ReadOnlySpan<byte> source) =>
        source.CopyTo(bytes.AsSpan(checked((int)offsetBytes), source.Length));

    public void Flush()
    {
    }

    public void Dispose()
    {
    }
}

/// <summary>
/// In-memory members that outlive the array that uses them, so a test can close and reopen an
/// array in one process, or look at (and corrupt) a member's raw bytes.
/// </summary>
public sealed class MemoryMemberStoreProvider : IMemberStoreProvider
{
    private readonly Dictionary<int, byte[]> _members = [];

    public string Describe(int role) => $"memory:{role}";

    public bool Exists(int role) => _members.ContainsKey(role);

    /// <summary>Adds a blank device of the given size (as if the user brought a disk).</summary>
    public void AddBlank(int role, long lengthBytes) => _members.Add(role, new byte[lengthBytes]);

    /// <summary>The raw bytes of a member (superblock and data area), for tests.</summary>
    public byte[] RawBytes(int role) => _members[role];

    public IMemberStore Create(int role, long lengthBytes)
    {
        if (Exists(role))
            throw new Raid5MemberException($"member {Describe(role)} already exists");
        AddBlank(role, lengthBytes);
        return Open(role);
    }

    public IMemberStore Open(int role) =>
        _members.TryGetValue(role, out var bytes)
            ? new MemoryMemberStore(Describe(role), bytes)
            : throw new Raid5MemberException($"member {Describe(role)} is missing");
}
