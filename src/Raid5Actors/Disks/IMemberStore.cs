namespace Raid5Actors.Disks;

/// <summary>
/// Raw storage behind one member disk. Calls are synchronous and blocking: only a
/// <see cref="MemberDiskActor"/> calls them, on its dedicated dispatcher, one at a time.
/// </summary>
public interface IMemberStore : IDisposable
{
    /// <summary>Where the member lives (a file path, "memory:2"), for messages and status.</summary>
    string Name { get; }

    long LengthBytes { get; }

    void Read(long offsetBytes, Span<byte> destination);

    void Write(long offsetBytes, ReadOnlySpan<byte> source);

    /// <summary>Makes every completed write durable (fsync for files).</summary>
    void Flush();
}

/// <summary>Creates and opens the member stores of one array by role (0..n-1).</summary>
public interface IMemberStoreProvider
{
    string Describe(int role);

    bool Exists(int role);

    /// <summary>Creates a new, zero-filled store; throws <see cref="Raid5MemberException"/> if it exists.</summary>
    IMemberStore Create(int role, long lengthBytes);

    /// <summary>Opens an existing store; throws <see cref="Raid5MemberException"/> if it is missing.</summary>
    IMemberStore Open(int role);
}

/// <summary>A member store is missing, unreadable, or does not belong where it was found.</summary>
public sealed class Raid5MemberException(string message, Exception? inner = null, Raid5OpenOverride overrideWith = Raid5OpenOverride.None)
    : IOException(message, inner)
{
    /// <summary>When an open was refused for this member: the option that would open the array without it.</summary>
    public Raid5OpenOverride Override { get; } = overrideWith;
}
