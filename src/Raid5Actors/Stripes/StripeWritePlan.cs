using Debug = System.Diagnostics.Debug;
using Raid5Actors.Geometry;

namespace Raid5Actors.Stripes;

/// <summary>
/// How one batch of writes to a row is carried out, decided per 4 KiB column of the row the way
/// md's handle_stripe_dirtying decides per stripe_head:
/// <list type="bullet">
/// <item>all data blocks of the column fully overwritten: read nothing (full-stripe write);</item>
/// <item>otherwise read-modify-write (read the old data being replaced and the old parity) when it
/// needs fewer member reads than reconstruct-write (read every data block not fully overwritten),
/// and reconstruct-write on a tie, as md does;</item>
/// <item>degraded, parity missing: write the data alone (reading only what partial pages need);</item>
/// <item>degraded, a data member missing: if it is fully overwritten, reconstruct-write without it;
/// otherwise read every survivor, rebuild its old page by XOR, then recompute parity from all data
/// (the missing member's new data is "folded into parity").</item>
/// </list>
/// A member under repair (it failed a read but is alive) is planned as missing for reads, and its
/// pages are written back once rebuilt: md's read-error repair. Pure code: it only says which pages
/// of which members to read, rebuild, combine and write.
/// </summary>
public sealed class StripeWritePlan
{
    public enum ColumnMode : byte
    {
        Untouched,
        FullStripe,
        ReadModifyWrite,
        ReconstructWrite,
        /// <summary>Rebuild the absent data member's page from the survivors, then as reconstruct-write.</summary>
        RebuildThenReconstruct,
        /// <summary>Parity is missing: write the data, reading only the pages it covers in part.</summary>
        DataOnly,
    }

    private const int kSectorsPerPage = ArrayGeometry.kPageBytes / ArrayGeometry.kSectorBytes;
    private const byte kFullPage = (1 << kSectorsPerPage) - 1;

    private StripeWritePlan(ArrayGeometry geometry, long row, int firstPage, int pageCount, int absentRole, bool repair)
    {
        Geometry = geometry;
        Row = row;
        FirstPage = firstPage;
        PageCount = pageCount;
        ParityMember = geometry.ParityMember(row);
        AbsentRole = absentRole;
        RepairAbsent = repair;
        Cover = new byte[geometry.DataMembers, pageCount];
        Modes = new ColumnMode[pageCount];
        Reads = new bool[geometry.MemberCount, pageCount];
        Writes = new bool[geometry.MemberCount, pageCount];
    }

    public ArrayGeometry Geometry { get; }

    public long Row { get; }

    public int ParityMember { get; }

    /// <summary>The member not read in this plan (missing, or under repair); -1 when all are present.</summary>
    public int AbsentRole { get; }

    /// <summary>The absent member is alive: write its rebuilt pages back (read-error repair).</summary>
    public bool RepairAbsent { get; }

    /// <summary>True when the absent member is missing, not repaired: the batch leaves its bits "needed".</summary>
    public bool Degraded => AbsentRole >= 0 && !RepairAbsent;

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

    /// <summary>Whether the member needs page buffers: it is read, written, or rebuilt in memory.</summary>
    public bool MemberTakesPart(int member)
    {
        if (member == AbsentRole && member != ParityMember)
            return true;
        for (var c = 0; c < PageCount; c++)
        {
            if (Reads[member, c] || Writes[member, c])
                return true;
        }
        return false;
    }

    /// <summary>Plans writes given as (offset in the row's logical data, length), sector aligned.</summary>
    /// <param name="absentRole">A member that must not be read (missing or under repair), or -1.</param>
    /// <param name="repair">The absent member is alive and its rebuilt pages are written back.</param>
    public static StripeWritePlan Create(
        ArrayGeometry geometry, long row, IReadOnlyList<(int OffsetInRowBytes, int LengthBytes)> writes, int absentRole = -1, bool repair = false)
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
        var plan = new StripeWritePlan(geometry, row, first, last - first + 1, absentRole, repair);
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
        var absentData = AbsentRole >= 0 ? Geometry.DataIndexOf(Row, AbsentRole) : -1;
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
            Modes[c] = ChooseMode(c, touched, full, absentData);
            for (var d = 0; d < Geometry.DataMembers; d++)
            {
                var member = Geometry.DataMember(Row, d);
                var cover = Cover[d, c];
                Reads[member, c] = Modes[c] switch
                {
                    ColumnMode.ReadModifyWrite => cover != 0,
                    ColumnMode.ReconstructWrite => cover != kFullPage,
                    ColumnMode.RebuildThenReconstruct => true,
                    ColumnMode.DataOnly => cover != 0 && cover != kFullPage,
                    _ => false,
                } && member != AbsentRole;
                Writes[member, c] = cover != 0 || (member == AbsentRole && RepairAbsent);
            }
            Reads[ParityMember, c] = Modes[c] is ColumnMode.ReadModifyWrite or ColumnMode.RebuildThenReconstruct;
            Writes[ParityMember, c] = true;
            if (AbsentRole >= 0 && !RepairAbsent)
                Writes[AbsentRole, c] = false; // a missing member is never written
        }
    }

    private ColumnMode ChooseMode(int column, int touched, int full, int absentData)
    {
        if (AbsentRole == ParityMember)
        {
            if (!RepairAbsent)
                return ColumnMode.DataOnly;
            return full == Geometry.DataMembers ? ColumnMode.FullStripe : ColumnMode.ReconstructWrite;
        }
        if (absentData >= 0)
        {
            // Reconstruct-write needs no data from a member whose page is entirely new.
            return Cover[absentData, column] == kFullPage
                ? (full == Geometry.DataMembers ? ColumnMode.FullStripe : ColumnMode.ReconstructWrite)
                : ColumnMode.RebuildThenReconstruct;
        }
        var rcwReads = Geometry.DataMembers - full;
        var rmwReads = touched + 1;
        return rcwReads == 0 ? ColumnMode.FullStripe
            : rmwReads < rcwReads ? ColumnMode.ReadModifyWrite
            : ColumnMode.ReconstructWrite;
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
}
