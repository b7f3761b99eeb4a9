using System.Runtime.InteropServices;
using System.Security.Cryptography;
using Akka.Configuration;
using Raid5Actors.Arrays;
using Raid5Actors.Disks;
using Raid5Actors.Geometry;

namespace Raid5Actors.Tests.Arrays;

/// <summary>Where the members of an array under test live. Specs that touch members run once per kind.</summary>
public enum MemberKind
{
    /// <summary>Files <c>member-NN.img</c> in the array folder (the default provider).</summary>
    Files,

    /// <summary>One <see cref="MemoryMemberStoreProvider"/> kept for the whole spec, so an array can be reopened.</summary>
    Memory,
}

/// <summary>
/// One array folder (its journal, and its member files for <see cref="MemberKind.Files"/>) with raw
/// access to the members, so a spec can fingerprint, copy or tamper with them between opens.
/// </summary>
internal sealed class ArrayUnderTest
{
    /// <summary>
    /// No daemon sweep during a spec: bitmap bits stay set until a clean stop clears them, so what a
    /// spec sees after a reopen is the stop's doing, not the daemon's.
    /// </summary>
    public static readonly Config kQuietBitmapDaemon = ConfigurationFactory.ParseString("raid5.bitmap.daemon-sleep = 1h");

    private readonly MemoryMemberStoreProvider? _memory;
    private readonly FileMemberStoreProvider _files;

    public ArrayUnderTest(string folder, MemberKind kind, Config? config = null)
    {
        Folder = folder;
        Kind = kind;
        Config = (config ?? Config.Empty).WithFallback(kQuietBitmapDaemon);
        _files = new FileMemberStoreProvider(folder);
        _memory = kind == MemberKind.Memory ? new MemoryMemberStoreProvider() : null;
    }

    public string Folder { get; }

    public MemberKind Kind { get; }

    public Config Config { get; }

    public IMemberStoreProvider Members => _memory ?? (IMemberStoreProvider)_files;

    /// <summary>File members use the default provider, as an application would; memory members the kept one.</summary>
    public Raid5ArrayOptions Options => new() { Members = _memory, Config = Config };

    public string DatabasePath => Path.Combine(Path.GetFullPath(Folder), "array.db");

    public Task<Raid5Array> CreateAsync(Raid5CreateOptions create) => Raid5Array.CreateAsync(Folder, create, Options);

    public Task<Raid5Array> OpenAsync() => Raid5Array.OpenAsync(Folder, Options);

    public string MemberPath(int role) => _files.PathOf(role);

    /// <summary>A blank member as a user would bring it: a zero-filled file, or zeroed memory.</summary>
    public void AddBlank(int role, long lengthBytes)
    {
        if (_memory is not null)
        {
            _memory.AddBlank(role, lengthBytes);
            return;
        }
        Directory.CreateDirectory(Folder);
        using var file = new FileStream(MemberPath(role), FileMode.CreateNew, FileAccess.Write);
        file.SetLength(lengthBytes);
    }

    public byte[] ReadMember(int role)
    {
        if (_memory is not null)
            return _memory.RawBytes(role).ToArray();
        using var file = OpenShared(MemberPath(role));
        var bytes = new byte[file.Length];
        file.ReadExactly(bytes);
        return bytes;
    }

    /// <summary>Replaces a member's whole content (a memory member keeps its length).</summary>
    public void WriteMember(int role, byte[] bytes)
    {
        if (_memory is null)
        {
            File.WriteAllBytes(MemberPath(role), bytes);
            return;
        }
        var raw = _memory.RawBytes(role);
        if (raw.Length != bytes.Length)
            throw new ArgumentException($"memory member {role} is {raw.Length} bytes, not {bytes.Length}", nameof(bytes));
        bytes.CopyTo(raw, 0);
    }

    public MemberSuperblock ReadSuperblock(int role)
    {
        using var store = Members.Open(role);
        return MemberSuperblock.ReadFrom(store) ?? throw new InvalidOperationException($"{store.Name} has no superblock");
    }

    public void WriteSuperblock(int role, MemberSuperblock superblock)
    {
        using var store = Members.Open(role);
        superblock.WriteTo(store);
        store.Flush();
    }

    /// <summary>SHA-256 of every member that exists, by role: equal fingerprints mean no member byte changed.</summary>
    public IReadOnlyDictionary<int, string> Fingerprint()
    {
        var hashes = new SortedDictionary<int, string>();
        for (var role = 0; role < ArrayGeometry.kMaxMembers; role++)
        {
            if (Members.Exists(role))
                hashes[role] = Convert.ToHexString(SHA256.HashData(ReadMember(role)));
        }
        return hashes;
    }

    /// <summary>Names of the files in the array folder (none when it does not exist).</summary>
    public IReadOnlyList<string> FilesInFolder() =>
        Directory.Exists(Folder)
            ? Directory.EnumerateFiles(Folder).Select(Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal).ToList()
            : [];

    /// <summary>
    /// RAID5's invariant on the raw members: in every row the chunks XOR to zero (parity is the XOR of
    /// the data), whatever the layout. Checks the bytes on the members, not what the array reads back.
    /// </summary>
    public void AssertParityConsistent(ArrayMetadata metadata)
    {
        var dataBytes = checked((int)metadata.MemberDataBytes);
        var offset = checked((int)metadata.DataOffsetBytes);
        var xor = new byte[dataBytes];
        var xorWords = MemoryMarshal.Cast<byte, ulong>(xor.AsSpan());
        for (var role = 0; role < metadata.MemberCount; role++)
        {
            var member = ReadMember(role);
            var words = MemoryMarshal.Cast<byte, ulong>(member.AsSpan(offset, dataBytes));
            for (var i = 0; i < words.Length; i++)
                xorWords[i] ^= words[i];
        }
        var firstBad = xor.AsSpan().IndexOfAnyExcept((byte)0);
        if (firstBad >= 0)
            Assert.Fail($"parity does not match the data at member offset {firstBad} (row {firstBad / metadata.ChunkBytes})");
    }

    // The array may hold the file open for writing; reading beside it must not ask for exclusive access.
    private static FileStream OpenShared(string path) => new(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
}
