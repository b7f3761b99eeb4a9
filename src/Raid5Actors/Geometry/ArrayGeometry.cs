using System.Diagnostics;
using System.Numerics;

namespace Raid5Actors.Geometry;

/// <summary>
/// The shape of a RAID5 array and the md-compatible map between logical bytes and member chunks.
/// Immutable and allocation-free after <see cref="Create"/>: the stripe path calls it per request.
/// </summary>
/// <remarks>
/// The mapping is md's <c>raid5_compute_sector</c> (drivers/md/raid5.c, the level-5 cases) and its
/// inverse <c>compute_blocknr</c>, with bytes in place of sectors. Row is md's "stripe", DataIndex its
/// dd_idx before the layout turns it into a disk index. DESIGN.md section 4 has the table.
/// </remarks>
public sealed record ArrayGeometry
{
    public const int kSectorBytes = 512;
    public const int kPageBytes = 4096;
    public const int kMinMembers = 3;
    public const int kMaxMembers = 16;
    public const int kMinChunkBytes = 4096;
    public const int kMaxChunkBytes = 4 * 1024 * 1024;

    // Chunks are powers of two, so the hot path shifts and masks instead of dividing.
    private readonly int _chunkShift;

    private ArrayGeometry(int memberCount, int chunkBytes, Raid5Layout layout, long memberDataBytes)
    {
        MemberCount = memberCount;
        ChunkBytes = chunkBytes;
        Layout = layout;
        MemberDataBytes = memberDataBytes;
        _chunkShift = BitOperations.Log2((uint)chunkBytes);
        DataMembers = memberCount - 1;
        RowCount = memberDataBytes >> _chunkShift;
        RowDataBytes = (long)DataMembers * chunkBytes;
        CapacityBytes = RowCount * RowDataBytes;
        PagesPerChunk = chunkBytes / kPageBytes;
    }

    public int MemberCount { get; }

    public int ChunkBytes { get; }

    public Raid5Layout Layout { get; }

    /// <summary>Usable bytes per member, a whole number of chunks.</summary>
    public long MemberDataBytes { get; }

    public int DataMembers { get; }

    public long RowCount { get; }

    /// <summary>Logical bytes per row (parity excluded).</summary>
    public long RowDataBytes { get; }

    public long CapacityBytes { get; }

    public int PagesPerChunk { get; }

    /// <summary>
    /// Validates the shape md would accept. <paramref name="memberDataBytes"/> is rounded down to whole
    /// chunks, as md does, because a partial chunk cannot hold a full row.
    /// </summary>
    public static ArrayGeometry Create(int memberCount, int chunkBytes, Raid5Layout layout, long memberDataBytes)
    {
        ValidateMemberCount(memberCount);
        ValidateChunkBytes(chunkBytes);
        ValidateLayout(layout);
        ValidateMemberDataBytes(memberCount, chunkBytes, memberDataBytes);
        var wholeChunkBytes = memberDataBytes & ~((long)chunkBytes - 1);
        return new ArrayGeometry(memberCount, chunkBytes, layout, wholeChunkBytes);
    }

    /// <summary>md's pd_idx for a row.</summary>
    public int ParityMember(long row)
    {
        Debug.Assert(row >= 0 && row < RowCount, "row out of range");
        var rotation = (int)(row % MemberCount);
        return Layout switch
        {
            Raid5Layout.LeftAsymmetric or Raid5Layout.LeftSymmetric => DataMembers - rotation,
            Raid5Layout.RightAsymmetric or Raid5Layout.RightSymmetric => rotation,
            Raid5Layout.ParityFirst => 0,
            _ => DataMembers,
        };
    }

    /// <summary>The member holding data chunk <paramref name="dataIndex"/> of a row.</summary>
    public int DataMember(long row, int dataIndex)
    {
        Debug.Assert(dataIndex >= 0 && dataIndex < DataMembers, "data index out of range");
        var parity = ParityMember(row);
        var member = Layout switch
        {
            // Asymmetric: data restarts at member 0 and steps over parity.
            Raid5Layout.LeftAsymmetric or Raid5Layout.RightAsymmetric => dataIndex < parity ? dataIndex : dataIndex + 1,

            // Symmetric: data continues right after parity, wrapping, so sequential reads hit every member.
            Raid5Layout.LeftSymmetric or Raid5Layout.RightSymmetric => (parity + 1 + dataIndex) % MemberCount,
            Raid5Layout.ParityFirst => dataIndex + 1,
            _ => dataIndex,
        };
        Debug.Assert(member != parity, "data mapped onto the parity member");
        return member;
    }

    /// <summary>Inverse of <see cref="DataMember"/> (md's compute_blocknr); -1 for the parity member.</summary>
    public int DataIndexOf(long row, int member)
    {
        Debug.Assert(member >= 0 && member < MemberCount, "member out of range");
        var parity = ParityMember(row);
        if (member == parity)
        {
            return -1;
        }

        return Layout switch
        {
            Raid5Layout.LeftAsymmetric or Raid5Layout.RightAsymmetric => member > parity ? member - 1 : member,
            Raid5Layout.LeftSymmetric or Raid5Layout.RightSymmetric => (member - parity - 1 + MemberCount) % MemberCount,
            Raid5Layout.ParityFirst => member - 1,
            _ => member,
        };
    }

    public ChunkLocation Locate(long logicalOffset)
    {
        Debug.Assert(logicalOffset >= 0 && logicalOffset < CapacityBytes, "logical offset out of range");
        var chunk = logicalOffset >> _chunkShift;
        var row = chunk / DataMembers;
        var dataIndex = (int)(chunk - (row * DataMembers));
        var offsetInChunk = (int)(logicalOffset & (ChunkBytes - 1));
        var memberOffset = (row << _chunkShift) + offsetInChunk;
        return new ChunkLocation(row, dataIndex, DataMember(row, dataIndex), offsetInChunk, memberOffset);
    }

    /// <summary>Inverse of <see cref="Locate"/>.</summary>
    public long LogicalOffset(long row, int dataIndex, int offsetInChunk)
    {
        Debug.Assert(row >= 0 && row < RowCount, "row out of range");
        Debug.Assert(dataIndex >= 0 && dataIndex < DataMembers, "data index out of range");
        Debug.Assert(offsetInChunk >= 0 && offsetInChunk < ChunkBytes, "offset in chunk out of range");
        var chunk = (row * DataMembers) + dataIndex;
        return (chunk << _chunkShift) + offsetInChunk;
    }

    private static void ValidateMemberCount(int memberCount)
    {
        if (memberCount < kMinMembers || memberCount > kMaxMembers)
        {
            throw new Raid5GeometryException(
                $"RAID5 needs {kMinMembers} to {kMaxMembers} members; got {memberCount} members.");
        }
    }

    private static void ValidateChunkBytes(int chunkBytes)
    {
        if (chunkBytes <= 0 || !BitOperations.IsPow2(chunkBytes))
        {
            throw new Raid5GeometryException($"Chunk size must be a power of two; got {chunkBytes} bytes.");
        }

        if (chunkBytes < kMinChunkBytes || chunkBytes > kMaxChunkBytes)
        {
            throw new Raid5GeometryException(
                $"Chunk size must be between {kMinChunkBytes} bytes (4 KiB) and {kMaxChunkBytes} bytes (4 MiB); got {chunkBytes} bytes.");
        }
    }

    private static void ValidateLayout(Raid5Layout layout)
    {
        if (layout < Raid5Layout.LeftAsymmetric || layout > Raid5Layout.ParityLast)
        {
            throw new Raid5GeometryException(
                $"Layout value {(int)layout} is not a defined RAID5 layout; valid layouts: {Raid5LayoutNames.ValidNames()}.");
        }
    }

    private static void ValidateMemberDataBytes(int memberCount, int chunkBytes, long memberDataBytes)
    {
        if (memberDataBytes < chunkBytes)
        {
            throw new Raid5GeometryException(
                $"Member data area of {memberDataBytes} bytes is smaller than one chunk ({chunkBytes} bytes).");
        }

        // CapacityBytes multiplies by the data member count; refuse sizes that would overflow a long.
        if (memberDataBytes > long.MaxValue / (memberCount - 1))
        {
            throw new Raid5GeometryException(
                $"Member data area of {memberDataBytes} bytes makes the array capacity overflow 64 bits.");
        }
    }
}
