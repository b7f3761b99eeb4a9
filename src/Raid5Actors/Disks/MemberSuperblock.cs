using System.Buffers.Binary;
using System.Numerics;
using Raid5Actors.Geometry;

namespace Raid5Actors.Disks;

/// <summary>
/// The small header at the start of every member: which array it belongs to, its role, the
/// array's event counter when it was last written, the geometry and where data starts. An array is
/// assembled from its members only when these agree with the array's metadata, so a member from
/// another array, or one that missed events (stale), is refused instead of trusted.
/// </summary>
public sealed record MemberSuperblock(
    Guid ArrayId,
    int Role,
    long Events,
    int MemberCount,
    int ChunkBytes,
    Raid5Layout Layout,
    long MemberDataBytes,
    long DataOffsetBytes)
{
    public const int kSuperblockBytes = 4096;

    /// <summary>Data starts 1 MiB into each member, as md v1.2 usually places it.</summary>
    public const long kDefaultDataOffsetBytes = 1L << 20;

    private const ulong kMagic = 0x5352_4F54_4341_3552; // "R5ACTORS" little-endian
    private const int kVersion = 1;
    private const int kChecksummedBytes = 80;

    public ArrayGeometry Geometry => ArrayGeometry.Create(MemberCount, ChunkBytes, Layout, MemberDataBytes);

    /// <summary>Member bytes needed for this superblock's data area.</summary>
    public long RequiredLengthBytes => DataOffsetBytes + MemberDataBytes;

    public void WriteTo(Span<byte> block)
    {
        if (block.Length < kSuperblockBytes)
            throw new ArgumentException($"a superblock needs {kSuperblockBytes} bytes", nameof(block));
        block[..kSuperblockBytes].Clear();
        BinaryPrimitives.WriteUInt64LittleEndian(block, kMagic);
        BinaryPrimitives.WriteInt32LittleEndian(block[8..], kVersion);
        ArrayId.TryWriteBytes(block[12..28]);
        BinaryPrimitives.WriteInt32LittleEndian(block[28..], Role);
        BinaryPrimitives.WriteInt64LittleEndian(block[32..], Events);
        BinaryPrimitives.WriteInt32LittleEndian(block[40..], MemberCount);
        BinaryPrimitives.WriteInt32LittleEndian(block[44..], ChunkBytes);
        BinaryPrimitives.WriteInt32LittleEndian(block[48..], (int)Layout);
        BinaryPrimitives.WriteInt64LittleEndian(block[56..], MemberDataBytes);
        BinaryPrimitives.WriteInt64LittleEndian(block[64..], DataOffsetBytes);
        BinaryPrimitives.WriteUInt32LittleEndian(block[kChecksummedBytes..], Checksum(block));
    }

    /// <summary>Null when the block holds no Raid5Actors superblock at all (a blank device).</summary>
    public static MemberSuperblock? TryRead(ReadOnlySpan<byte> block, string memberName)
    {
        if (BinaryPrimitives.ReadUInt64LittleEndian(block) != kMagic)
            return null;
        var version = BinaryPrimitives.ReadInt32LittleEndian(block[8..]);
        if (version != kVersion)
            throw new Raid5MemberException($"{memberName}: superblock version {version} is not supported (expected {kVersion})");
        if (BinaryPrimitives.ReadUInt32LittleEndian(block[kChecksummedBytes..]) != Checksum(block))
            throw new Raid5MemberException($"{memberName}: superblock checksum mismatch; the member header is corrupt");
        return new MemberSuperblock(
            new Guid(block[12..28]),
            BinaryPrimitives.ReadInt32LittleEndian(block[28..]),
            BinaryPrimitives.ReadInt64LittleEndian(block[32..]),
            BinaryPrimitives.ReadInt32LittleEndian(block[40..]),
            BinaryPrimitives.ReadInt32LittleEndian(block[44..]),
            (Raid5Layout)BinaryPrimitives.ReadInt32LittleEndian(block[48..]),
            BinaryPrimitives.ReadInt64LittleEndian(block[56..]),
            BinaryPrimitives.ReadInt64LittleEndian(block[64..]));
    }

    public static MemberSuperblock? ReadFrom(IMemberStore store)
    {
        if (store.LengthBytes < kSuperblockBytes)
            return null;
        Span<byte> block = stackalloc byte[kSuperblockBytes];
        store.Read(0, block);
        return TryRead(block, store.Name);
    }

    public void WriteTo(IMemberStore store)
    {
        Span<byte> block = stackalloc byte[kSuperblockBytes];
        WriteTo(block);
        store.Write(0, block);
    }

    private static uint Checksum(ReadOnlySpan<byte> block)
    {
        var crc = 0u;
        foreach (var b in block[..kChecksummedBytes])
            crc = BitOperations.Crc32C(crc, b);
        return crc;
    }
}
