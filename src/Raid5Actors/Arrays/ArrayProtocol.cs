using Raid5Actors.Bitmap;
using Raid5Actors.Buffers;
using Raid5Actors.Geometry;

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

public sealed record MemberStatus(int Role, string Name, string State);

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
    BitmapProtocol.BitmapStatus? Bitmap)
{
    public override string ToString()
    {
        var members = string.Join(", ", Members.Select(m => $"{m.Role}:{m.State}"));
        var bitmap = Bitmap is null ? "bitmap: unavailable"
            : $"bitmap: {Bitmap.SetChunks}/{Bitmap.ChunkCount} chunks dirty ({Bitmap.ChunkBytes / 1024} KiB each), "
              + $"{Bitmap.PendingResyncChunks} pending resync, seq_flush={Bitmap.SeqFlush} seq_write={Bitmap.SeqWrite}";
        return $"array {ArrayId} [{State}] raid5 {Raid5LayoutNames.ToName(Geometry.Layout)} chunk {Geometry.ChunkBytes / 1024} KiB, "
            + $"{Geometry.MemberCount} members, {CapacityBytes} bytes, events {Events}\n"
            + $"  members: {members}\n"
            + $"  stripe cache: {StripeCacheActive}/{StripeCacheSize} active, {QueuedWrites} writes queued, {RequestsInFlight} requests in flight\n"
            + $"  {bitmap}";
    }
}
