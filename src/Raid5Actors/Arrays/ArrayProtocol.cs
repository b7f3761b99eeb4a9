using Raid5Actors.Bitmap;
using Raid5Actors.Buffers;
using Raid5Actors.Geometry;
using Raid5Actors.Stripes;
using Raid5Actors.Sync;

namespace Raid5Actors.Arrays;

/// <summary>
/// The array actor's public protocol. Offsets and lengths are bytes of the logical device,
/// multiples of 512 (md's sector). A buffer in a message belongs to whoever receives the message.
/// </summary>
public static class ArrayProtocol
{
    public sealed record Read(long OffsetBytes, int LengthBytes);

    /// <summary>The bytes read; the receiver owns <c>Data</c> and returns it to the pool.</summary>
    public sealed record ReadCompleted(PooledBuffer Data);

    /// <summary>Write <c>Data</c> (handed over to the array). With <c>Fua</c> the reply waits until it is durable.</summary>
    public sealed record Write(long OffsetBytes, PooledBuffer Data, bool Fua = false);

    public sealed class WriteCompleted
    {
        public static readonly WriteCompleted Instance = new();

        private WriteCompleted()
        {
        }
    }

    /// <summary>Make every write acknowledged before this one durable on every member.</summary>
    public sealed class Flush
    {
        public static readonly Flush Instance = new();

        private Flush()
        {
        }
    }

    public sealed class FlushCompleted
    {
        public static readonly FlushCompleted Instance = new();

        private FlushCompleted()
        {
        }
    }

    public sealed record RequestFailed(Exception Error);

    /// <summary>Answered with <see cref="ArrayReady"/> once the array serves requests, or <see cref="ArrayOpenFailed"/>.</summary>
    public sealed class WaitUntilReady
    {
        public static readonly WaitUntilReady Instance = new();

        private WaitUntilReady()
        {
        }
    }

    public sealed record ArrayReady(ArrayMetadata Metadata);

    public sealed record ArrayOpenFailed(Exception Error);

    public sealed class GetStatus
    {
        public static readonly GetStatus Instance = new();

        private GetStatus()
        {
        }
    }

    /// <summary>Mark a member failed, as if its I/O had failed (mdadm --fail). Answered with <see cref="MembersChanged"/>.</summary>
    public sealed record FailMember(int Role);

    /// <summary>Take a failed member out of its role (mdadm --remove). Answered with <see cref="MembersChanged"/>.</summary>
    public sealed record RemoveMember(int Role);

    /// <summary>
    /// Add a device (mdadm --add): a member of this array that came back is re-added (only the regions
    /// whose bits are set are rebuilt, when its event count allows); any other device becomes a spare,
    /// and recovery onto it starts if a role is missing. The store is handed over to the array.
    /// </summary>
    public sealed record AddMember(OpenedMember Device);

    /// <summary>The membership after a command; <c>Outcome</c> says what the command did.</summary>
    public sealed record MembersChanged(ArrayMetadata Metadata, string Outcome);

    /// <summary>Start a check (count mismatched rows) or repair (also rewrite their parity). Answered with <see cref="SyncStarted"/>.</summary>
    public sealed record StartSync(SyncKind Kind);

    public sealed record SyncStarted(SyncStatus Status);

    /// <summary>Answered with <see cref="SyncIdle"/> once no resync, recovery, check or repair is running.</summary>
    public sealed class WaitForSync
    {
        public static readonly WaitForSync Instance = new();

        private WaitForSync()
        {
        }
    }

    /// <summary><c>Last</c>: the most recent pass that ended, if any, and why it stopped early.</summary>
    public sealed record SyncIdle(SyncStatus? Last, string? LastFailure);

    public sealed class GetMetadata
    {
        public static readonly GetMetadata Instance = new();

        private GetMetadata()
        {
        }
    }

    /// <summary>Finish outstanding requests, flush members, clear idle bitmap bits, then stop. Answered with <see cref="Stopped"/>.</summary>
    public sealed class Stop
    {
        public static readonly Stop Instance = new();

        private Stop()
        {
        }
    }

    public sealed class Stopped
    {
        public static readonly Stopped Instance = new();

        private Stopped()
        {
        }
    }
}

/// <summary>A device of the array: its role (-1 for a spare), where it lives, and its state.</summary>
public sealed record MemberStatus(int Role, int Device, string Name, string State);

/// <summary>A snapshot of the array for operators: geometry, members, stripe cache and bitmap.</summary>
public sealed record ArrayStatus(
    Guid ArrayId,
    string State,
    ArrayGeometry Geometry,
    long CapacityBytes,
    long Events,
    IReadOnlyList<MemberStatus> Members,
    int StripeCacheActive,
    int StripeCacheSize,
    int QueuedWrites,
    int RequestsInFlight,
    BitmapProtocol.BitmapStatus? Bitmap,
    SyncStatus? Sync = null,
    SyncStatus? LastSync = null,
    string? LastSyncFailure = null)
{
    public bool Degraded => Members.Any(m => m.Role >= 0 && m.State != "in-sync");

    public override string ToString()
    {
        var members = string.Join(", ", Members.Select(m => m.Role >= 0 ? $"{m.Role}:{m.State}" : $"spare({m.Device})"));
        var bitmap = Bitmap is null ? "bitmap: unavailable"
            : $"bitmap: {Bitmap.SetChunks}/{Bitmap.ChunkCount} chunks dirty ({Bitmap.ChunkBytes / 1024} KiB each), "
              + $"{Bitmap.PendingResyncChunks} pending resync, seq_flush={Bitmap.SeqFlush} seq_write={Bitmap.SeqWrite}";
        return $"array {ArrayId} [{State}] raid5 {Raid5LayoutNames.ToName(Geometry.Layout)} chunk {Geometry.ChunkBytes / 1024} KiB, "
            + $"{Geometry.MemberCount} members, {CapacityBytes} bytes, events {Events}\n"
            + $"  members: {members}\n"
            + $"  stripe cache: {StripeCacheActive}/{StripeCacheSize} active, {QueuedWrites} writes queued, {RequestsInFlight} requests in flight\n"
            + $"  {bitmap}"
            + (Sync is not null ? $"\n  {Sync}" : "")
            + (Sync is null && LastSync is not null ? $"\n  last: {LastSync}{(LastSyncFailure is null ? "" : $" (stopped: {LastSyncFailure})")}" : "");
    }
}
