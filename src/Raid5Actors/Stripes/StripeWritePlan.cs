using System.Diagnostics;
using Raid5Actors.Geometry;

namespace Raid5Actors.Stripes;

/// <summary>
/// How one batch of writes to a row is carried out, decided per 4 KiB column of the row the way
/// md's handle_stripe_dirtying decides per stripe_head: a column whose data blocks are all fully
/// overwritten reads nothing; otherwise read-modify-write (read the old data being replaced and
/// the old parity) is chosen when it needs fewer member reads than reconstruct-write (read every
/// data block not fully overwritten), and reconstruct-write on a tie, as md does.
/// Pure code: it only says which pages of which members to read, combine and write.
/// </summary>
public sealed class StripeWritePlan
{
    public enum ColumnMode : byte
    {
        Untouched,
        FullStripe,
        ReadModifyWrite,
        ReconstructWrite,
    }

    private const int kSectorsPerPage = ArrayGeometry.kPageBytes / ArrayGeometry.kSectorBytes;
    private const byte kFullPage = (1 << kSectorsPerPage) - 1;

    private StripeWritePlan(ArrayGeometry geometry, long row, int firstPage, int pageCount)
    {
        Geometry = geometry;
        Row = row;
        FirstPage = firstPage;
        PageCount = pageCount;
        ParityMember = geometry.ParityMember(row);
        Cover = new byte[geometry.DataMembers, pageCount];
        Modes = new ColumnMode[pageCount];
        Reads = new bool[geometry.MemberCount, pageCount];
        Writes = new bool[geometry.MemberCount, pageCount];
    }

    public ArrayGeometry Geometry { get; }

    public long Row { get; }

    public int ParityMember { get; }

    /// <summary>First page (4 KiB column) of the chunk touched by the batch.</summary>
    public int FirstPage { get; }

    public int PageCount { get; }

    /// <summary>Sectors written per data index and column (bit s = sector s of the page).</summary>
    public byte[,] Cover { get; }

    public ColumnMode[] Modes { get; }

    /// <summary>Pages to read per member and column.</summary>
    public bool[,] Reads { get; }

    /// <summary>Pages to write per member and column.</summary>
    public bool[,] Writes { get; }

    /// <summary>Member offset of the first planned column (relative to the data area).</summary>
    public long MemberOffsetBytes => Row * Geometry.ChunkBytes + (long)FirstPage * ArrayGeometry.kPageBytes;

    public int SpanBytes => PageCount * ArrayGeometry.kPageBytes;

    public int CountReads() => Count(Reads);

    public int CountWrites() => Count(Writes);

    public bool MemberTakesPart(int member)
    {
        for (var c = 0; c < PageCount; c++)
        {
            if (Reads[member, c] || Writes[member, c])
                return true;
        }
        return false;
    }

    /// <summary>Plans writes given as (offset in the row's logical data, length), sector aligned.</summary>
    public static StripeWritePlan Create(ArrayGeometry geometry, long row, IReadOnlyList<(int OffsetInRowBytes, int LengthBytes)> writes)
    {
        Debug.Assert(writes.Count > 0, "a plan needs at least one write");
        var chunk = geometry.ChunkBytes;
        int first = int.MaxValue, last = int.MinValue;
        foreach (var (offset, length) in writes)
        {
            Debug.Assert(offset % ArrayGeometry.kSectorBytes == 0 && length % ArrayGeometry.kSectorBytes == 0, "unaligned write");
            Debug.Assert(length > 0 && offset + (long)length <= geometry.RowDataBytes, "write outside the row");
            // A write crossing into the next chunk covers that chunk from offset 0 and the first one to
            // its end, so its columns span the whole chunk (untouched ones in between stay Untouched).
            var startInChunk = offset % chunk;
            var endInChunk = (offset + length - 1) % chunk;
            var crosses = offset / chunk != (offset + length - 1) / chunk;
            first = Math.Min(first, crosses ? 0 : startInChunk / ArrayGeometry.kPageBytes);
            last = Math.Max(last, crosses ? chunk / ArrayGeometry.kPageBytes - 1 : endInChunk / ArrayGeometry.kPageBytes);
        }
        var plan = new StripeWritePlan(geometry, row, first, last - first + 1);
        foreach (var (offset, length) in writes)
            plan.MarkCover(offset, length);
        plan.Decide();
        return plan;
    }

    private void MarkCover(int offsetInRow, int lengthBytes)
    {
        var chunk = Geometry.ChunkBytes;
        for (var pos = offsetInRow; pos < offsetInRow + lengthBytes; pos += ArrayGeometry.kSectorBytes)
        {
            var dataIndex = pos / chunk;
            var inChunk = pos % chunk;
            var column = inChunk / ArrayGeometry.kPageBytes - FirstPage;
            var sector = inChunk % ArrayGeometry.kPageBytes / ArrayGeometry.kSectorBytes;
            Cover[dataIndex, column] |= (byte)(1 << sector);
        }
    }

    private void Decide()
    {
        for (var c = 0; c < PageCount; c++)
        {
            int touched = 0, full = 0;
            for (var d = 0; d < Geometry.DataMembers; d++)
            {
                if (Cover[d, c] != 0)
                    touched++;
                if (Cover[d, c] == kFullPage)
                    full++;
            }
            if (touched == 0)
                continue;
            var rcwReads = Geometry.DataMembers - full;
            var rmwReads = touched + 1;
            Modes[c] = rcwReads == 0 ? ColumnMode.FullStripe
                : rmwReads < rcwReads ? ColumnMode.ReadModifyWrite
                : ColumnMode.ReconstructWrite;
            for (var d = 0; d < Geometry.DataMembers; d++)
            {
                var member = Geometry.DataMember(Row, d);
                var cover = Cover[d, c];
                Reads[member, c] = Modes[c] switch
                {
                    ColumnMode.ReadModifyWrite => cover != 0,
                    ColumnMode.ReconstructWrite => cover != kFullPage,
                    _ => false,
                };
                Writes[member, c] = cover != 0;
            }
            Reads[ParityMember, c] = Modes[c] == ColumnMode.ReadModifyWrite;
            Writes[ParityMember, c] = true;
        }
    }

    /// <summary>Consecutive runs of columns flagged in <paramref name="flags"/> for one member.</summary>
    public static IEnumerable<(int FirstColumn, int Columns)> Runs(bool[,] flags, int member, int pageCount)
    {
        var c = 0;
        while (c < pageCount)
        {
            if (!flags[member, c])
            {
                c++;
                continue;
            }
            var start = c;
            while (c < pageCount && flags[member, c])
                c++;
            yield return (start, c - start);
        }
    }

    private int Count(bool[,] flags)
    {
        var n = 0;
        foreach (var f in flags)
            n += f ? 1 : 0;
        return n;
    }
}
