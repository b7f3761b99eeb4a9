using Raid5Actors.Stripes;

namespace Raid5Actors.Sync;

/// <summary>A run of consecutive rows.</summary>
public readonly record struct RowRange(long First, long Count)
{
    public long End => First + Count;
}

/// <summary>Messages between the array actor and a <see cref="SyncActor"/>.</summary>
public static class SyncProtocol
{
    /// <summary>Sync this row now (through its stripe, so it is ordered with the row's writes).</summary>
    public sealed record SyncRow(long Row);

    /// <summary>The row is done; <c>UserBusy</c>: requests arrived meanwhile, so keep to the minimum speed.</summary>
    public sealed record RowSynced(long Row, bool Mismatch, bool UserBusy);

    public sealed record RowSyncFailed(long Row, string Reason);

    /// <summary>Sent periodically and at the end; the array shows the latest in its status.</summary>
    public sealed record SyncProgress(SyncStatus Status);

    public sealed record SyncFinished(SyncStatus Status, string? Failure);
}

/// <summary>Progress of a resync, recovery, check or repair, as shown to operators.</summary>
public sealed record SyncStatus(
    SyncKind Kind,
    int TargetRole,
    long DoneRows,
    long TotalRows,
    long RowBytes,
    double BytesPerSecond,
    TimeSpan? Eta,
    long Mismatches)
{
    public double Percent => TotalRows == 0 ? 100 : 100.0 * DoneRows / TotalRows;

    public override string ToString() =>
        $"{Kind.ToString().ToLowerInvariant()}{(TargetRole >= 0 ? $" of member {TargetRole}" : "")}: "
        + $"{Percent:F1}% ({DoneRows}/{TotalRows} rows) at {BytesPerSecond / (1 << 20):F1} MiB/s"
        + (Eta is { } eta ? $", eta {eta:hh\\:mm\\:ss}" : "")
        + (Kind is SyncKind.Check or SyncKind.Repair or SyncKind.Resync ? $", {Mismatches} mismatches" : "");
}
