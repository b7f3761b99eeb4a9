namespace Raid5Actors.Tests.Crash;

/// <summary>
/// What each byte of the device may hold after the crash. Writes are applied by the array in issue
/// order (per row, through one stripe), so for byte b let j be the last durable write covering it:
/// b holds j's value (or the round's starting value if there is none), or the value of any write
/// issued after j that was not durable, because that one may or may not have landed. A non-durable
/// write issued before j cannot land after it: its stripe finished it before j, and the flush (or
/// FUA) that made j durable made it durable too, underneath j.
/// </summary>
public static class AllowedBytes
{
    public sealed record Mismatch(long OffsetBytes, long LengthBytes, byte Expected, byte Actual, int DurableWrite, string Candidates)
    {
        public override string ToString() =>
            $"logical bytes [{OffsetBytes}, {OffsetBytes + LengthBytes}) do not hold what the writes allow: the first holds {Actual}, "
            + $"expected {Expected} ({(DurableWrite < 0 ? "as before the round" : $"durable write w{DurableWrite}")}) or a value of {Candidates}";
    }

    public static List<Mismatch> Check(byte[] start, IReadOnlyList<IssuedWrite> writes, HashSet<int> durable, byte[] actual)
    {
        var expected = (byte[])start.Clone();
        var lastDurable = new int[start.Length];
        Array.Fill(lastDurable, -1);
        foreach (var write in writes.Where(w => durable.Contains(w.Index)))
        {
            write.Data.CopyTo(expected, write.OffsetBytes);
            lastDurable.AsSpan((int)write.OffsetBytes, write.Data.Length).Fill(write.Index);
        }
        var allowed = new bool[start.Length];
        for (var i = 0; i < start.Length; i++)
            allowed[i] = actual[i] == expected[i];
        foreach (var write in writes.Where(w => !durable.Contains(w.Index)))
        {
            for (var i = 0; i < write.Data.Length; i++)
            {
                var at = write.OffsetBytes + i;
                if (!allowed[at] && write.Index > lastDurable[at] && write.Data[i] == actual[at])
                    allowed[at] = true;
            }
        }

        var mismatches = new List<Mismatch>();
        for (var i = 0; i < start.Length; i++)
        {
            if (allowed[i])
                continue;
            var end = i;
            while (end < start.Length && !allowed[end])
                end++;
            var candidates = writes.Where(w => !durable.Contains(w.Index) && w.OffsetBytes <= i && i < w.EndBytes && w.Index > lastDurable[i]).ToList();
            mismatches.Add(new Mismatch(i, end - i, expected[i], actual[i], lastDurable[i],
                candidates.Count == 0 ? "no later write" : string.Join(", ", candidates)));
            i = end;
        }
        return mismatches;
    }
}
