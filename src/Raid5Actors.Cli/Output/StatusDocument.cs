using Raid5Actors.Arrays;
using Raid5Actors.Geometry;
using Raid5Actors.Stripes;
using Raid5Actors.Sync;

namespace Raid5Actors.Cli.Output;

/// <summary>
/// What <c>status</c> and <c>detail</c> show, as one immutable document: built from the engine's
/// status in the process that has the array open, sent as JSON over the control socket when that
/// is another process, and rendered as text or printed as JSON (<c>--json</c>) by the CLI.
/// Property names are part of the CLI's interface: scripts read them.
/// </summary>
public sealed record StatusDocument(
    string Folder,
    Guid ArrayId,
    string State,
    string Level,
    string Layout,
    int ChunkBytes,
    int RaidDevices,
    long CapacityBytes,
    long MemberDataBytes,
    long DataOffsetBytes,
    long Events,
    DateTime CreatedUtc,
    bool Degraded,
    IReadOnlyList<MemberDocument> Members,
    SyncDocument? Sync,
    SyncDocument? LastSync,
    string? LastSyncFailure,
    BitmapDocument? Bitmap,
    int StripeCacheActive,
    int StripeCacheSize,
    ServedDocument? ServedBy)
{
    public static StatusDocument From(string folder, ArrayStatus status, ArrayMetadata metadata, ServedDocument? servedBy) => new(
        Control.ControlProtocol.FullPath(folder),
        status.ArrayId,
        status.State,
        "raid5",
        Raid5LayoutNames.ToName(status.Geometry.Layout),
        status.Geometry.ChunkBytes,
        status.Geometry.MemberCount,
        status.CapacityBytes,
        status.Geometry.MemberDataBytes,
        metadata.DataOffsetBytes,
        status.Events,
        metadata.CreatedUtc,
        status.Degraded,
        status.Members.Select(m => new MemberDocument(m.Role, m.Device, m.Name, m.Role >= 0 ? m.State : "spare")).ToList(),
        SyncDocument.From(status.Sync),
        SyncDocument.From(status.LastSync),
        status.LastSyncFailure,
        status.Bitmap is { } b ? new BitmapDocument(b.ChunkBytes, b.ChunkCount, b.SetChunks, b.PendingResyncChunks) : null,
        status.StripeCacheActive,
        status.StripeCacheSize,
        servedBy);

    /// <summary>Roles holding current data, out of <see cref="RaidDevices"/>.</summary>
    public int WorkingDevices => Members.Count(m => m.Role >= 0 && m.State == "in-sync");

    /// <summary>True while a recovery or a resync still has to run (e.g. right after a member was added).</summary>
    public bool SyncPending => Sync is not null || Members.Any(m => m.State == "rebuilding");
}

/// <param name="Role">Role in the array (0..raid devices-1), or -1 for a spare.</param>
/// <param name="Device">Index of the member file (member-NN.img), or -1 when the role has none.</param>
/// <param name="State">in-sync, rebuilding, faulty, removed, or spare.</param>
public sealed record MemberDocument(int Role, int Device, string Name, string State);

public sealed record SyncDocument(
    string Kind, int TargetRole, double Percent, long DoneRows, long TotalRows, long DoneBytes, long TotalBytes,
    double BytesPerSecond, double? EtaSeconds, long Mismatches)
{
    public static SyncDocument? From(SyncStatus? sync) => sync is null ? null : new(
        KindName(sync.Kind), sync.TargetRole, Math.Round(sync.Percent, 2), sync.DoneRows, sync.TotalRows,
        sync.DoneRows * sync.RowBytes, sync.TotalRows * sync.RowBytes, sync.BytesPerSecond, sync.Eta?.TotalSeconds, sync.Mismatches);

    /// <summary>md's words in /proc/mdstat: recovery, resync, check, repair.</summary>
    public static string KindName(SyncKind kind) => kind switch
    {
        SyncKind.Recover => "recovery",
        _ => kind.ToString().ToLowerInvariant(),
    };
}

public sealed record BitmapDocument(long ChunkBytes, int Chunks, int DirtyChunks, int PendingResyncChunks);

/// <summary>The process serving the array, when <c>status</c> reached it through its control socket.</summary>
public sealed record ServedDocument(int ProcessId, string Host, string? Export);
