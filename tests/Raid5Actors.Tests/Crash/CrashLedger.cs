namespace Raid5Actors.Tests.Crash;

/// <summary>A write the workload issued: its place in issue order, its bytes, and whether it was acknowledged before the power went.</summary>
public sealed class IssuedWrite(int index, long offsetBytes, byte[] data, bool fua)
{
    public int Index { get; } = index;

    public long OffsetBytes { get; } = offsetBytes;

    public byte[] Data { get; } = data;

    public long EndBytes => OffsetBytes + Data.Length;

    public bool Fua { get; } = fua;

    public bool AckedBeforeCrash { get; internal set; }

    public string? FailedBeforeCrash { get; internal set; }

    public override string ToString() => $"w{Index} [{OffsetBytes}, {EndBytes}){(Fua ? " fua" : "")}";
}

/// <summary>A flush the workload issued, with the writes acknowledged when it was issued (the ones it makes durable).</summary>
public sealed class IssuedFlush(int index, int[] ackedWritesAtIssue)
{
    public int Index { get; } = index;

    public int[] AckedWritesAtIssue { get; } = ackedWritesAtIssue;

    public bool CompletedBeforeCrash { get; internal set; }

    public string? FailedBeforeCrash { get; internal set; }
}

/// <summary>
/// Every write and flush of one round, in issue order, and what each had answered before the crash.
/// Issue from one thread (the workload's), so issue order is the order the array receives them.
/// An answer counts only if it arrived before <see cref="Crash"/>: the power cut and everything after
/// it happen later, so whatever was acknowledged before it must survive it.
/// </summary>
public sealed class CrashLedger
{
    private readonly Lock _lock = new();
    private readonly List<Task> _outstanding = [];
    private bool _crashed;

    public List<IssuedWrite> Writes { get; } = [];

    public List<IssuedFlush> Flushes { get; } = [];

    public int Outstanding => _outstanding.Count(t => !t.IsCompleted);

    public void Write(Raid5Array array, long offsetBytes, byte[] data, bool fua)
    {
        var write = new IssuedWrite(Writes.Count, offsetBytes, data, fua);
        Writes.Add(write);
        Track(array.WriteAsync(offsetBytes, data, fua), error =>
        {
            if (error is null)
                write.AckedBeforeCrash = true;
            else
                write.FailedBeforeCrash = error.Message;
        });
    }

    public void Flush(Raid5Array array)
    {
        int[] acked;
        lock (_lock)
            acked = [.. Writes.Where(w => w.AckedBeforeCrash).Select(w => w.Index)];
        var flush = new IssuedFlush(Flushes.Count, acked);
        Flushes.Add(flush);
        Track(array.FlushAsync(), error =>
        {
            if (error is null)
                flush.CompletedBeforeCrash = true;
            else
                flush.FailedBeforeCrash = error.Message;
        });
    }

    /// <summary>Waits for everything issued so far (false if it did not all answer in time).</summary>
    public async Task<bool> DrainAsync(TimeSpan timeout)
    {
        var all = Task.WhenAll(_outstanding);
        return await Task.WhenAny(all, Task.Delay(timeout)) == all;
    }

    /// <summary>The power goes now: answers arriving from here on do not count.</summary>
    public void Crash()
    {
        lock (_lock)
            _crashed = true;
    }

    /// <summary>Writes made durable before the crash: acknowledged before the last completed flush was issued, or FUA and acknowledged.</summary>
    public HashSet<int> DurableWrites()
    {
        lock (_lock)
        {
            var durable = Flushes.Where(f => f.CompletedBeforeCrash).MaxBy(f => f.Index)?.AckedWritesAtIssue.ToHashSet() ?? [];
            durable.UnionWith(Writes.Where(w => w.Fua && w.AckedBeforeCrash).Select(w => w.Index));
            return durable;
        }
    }

    public IEnumerable<string> FailuresBeforeCrash()
    {
        lock (_lock)
        {
            return Writes.Where(w => w.FailedBeforeCrash is not null).Select(w => $"{w} failed before the crash: {w.FailedBeforeCrash}")
                .Concat(Flushes.Where(f => f.FailedBeforeCrash is not null).Select(f => $"flush f{f.Index} failed before the crash: {f.FailedBeforeCrash}"))
                .ToList();
        }
    }

    public string Summary()
    {
        lock (_lock)
        {
            var completedFlushes = Flushes.Count(f => f.CompletedBeforeCrash);
            return $"{Writes.Count} writes ({Writes.Count(w => w.AckedBeforeCrash)} acked, {Writes.Count(w => w.Fua)} fua), "
                + $"{Flushes.Count} flushes ({completedFlushes} completed), {DurableWritesUnlocked()} writes durable";
        }
    }

    private int DurableWritesUnlocked() =>
        (Flushes.Where(f => f.CompletedBeforeCrash).MaxBy(f => f.Index)?.AckedWritesAtIssue ?? [])
            .Union(Writes.Where(w => w.Fua && w.AckedBeforeCrash).Select(w => w.Index)).Count();

    private void Track(Task task, Action<Exception?> answered)
    {
        _outstanding.RemoveAll(t => t.IsCompleted);
        _outstanding.Add(task.ContinueWith(
            t =>
            {
                lock (_lock)
                {
                    if (!_crashed)
                        answered(t.IsCompletedSuccessfully ? null : t.Exception!.GetBaseException());
                }
            },
            TaskScheduler.Default));
    }
}
