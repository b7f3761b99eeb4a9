using Akka.Actor;
using Akka.Event;
using Raid5Actors.Bitmap;
using static Raid5Actors.Arrays.ArrayProtocol;

namespace Raid5Actors.Arrays;

/// <summary>Unplugging the bitmap, status reports, and the orderly stop.</summary>
public sealed partial class ArrayActor
{
    private sealed class EndOfBurst
    {
        public static readonly EndOfBurst Instance = new();
    }

    private readonly Queue<IActorRef> _statusWaiters = new();
    private int _parkedSinceUnplug;
    private bool _unplugScheduled;
    private IActorRef? _stopRequester;
    private bool _stopFlushing;

    // md plugs when a stripe waits for the bitmap and unplugs when the submitter finishes its
    // batch of bios. Our "end of a burst" is a message to ourselves: it is handled after every
    // message already in the mailbox, so the stripes parked by this burst share one bitmap write.
    private void OnStripeParked()
    {
        if (++_parkedSinceUnplug >= _settings.MaxParkedStripes)
        {
            Unplug();
            return;
        }
        if (_unplugScheduled)
            return;
        _unplugScheduled = true;
        if (_settings.UnplugDelay > TimeSpan.Zero)
            Timers.StartSingleTimer(nameof(EndOfBurst), EndOfBurst.Instance, _settings.UnplugDelay);
        else
            Self.Tell(EndOfBurst.Instance);
    }

    private void Unplug()
    {
        _unplugScheduled = false;
        _parkedSinceUnplug = 0;
        Timers.Cancel(nameof(EndOfBurst));
        _bitmap?.Tell(BitmapProtocol.Unplug.Instance);
    }

    private void OnGetStatus()
    {
        if (_bitmap is null || _bitmap.IsNobody() || _state is not (State.Running or State.Stopping))
        {
            Sender.Tell(Status(bitmap: null));
            return;
        }
        _statusWaiters.Enqueue(Sender);
        _bitmap.Tell(BitmapProtocol.GetBitmapStatus.Instance);
    }

    private void OnBitmapStatus(BitmapProtocol.BitmapStatus bitmap)
    {
        if (_statusWaiters.TryDequeue(out var waiter))
            waiter.Tell(Status(bitmap));
    }

    private ArrayStatus Status(BitmapProtocol.BitmapStatus? bitmap)
    {
        var metadata = _metadata;
        var state = _state switch
        {
            State.Running when metadata.Failed => "failed",
            State.Running when _writesRefused is not null => "read-only",
            State.Running when _rebuild is not null => "recovering",
            State.Running when metadata.Degraded => "degraded",
            State.Running when _sync is not null => _sync.Kind.ToString().ToLowerInvariant() + "ing",
            State.Running => "active",
            _ => _state.ToString().ToLowerInvariant(),
        };
        return new ArrayStatus(
            metadata?.ArrayId ?? Guid.Empty,
            state,
            _geometry ?? metadata?.Geometry!,
            _geometry?.CapacityBytes ?? 0,
            metadata?.Events ?? 0,
            metadata is null ? [] : MemberStatuses(),
            _stripes.Count,
            _stripeCacheSize,
            _waiting.Count,
            _pending.Count,
            bitmap,
            _sync?.Latest,
            _lastSync,
            _lastSyncFailure);
    }

    private void BeginStop(IActorRef requester)
    {
        _stopRequester = requester;
        _state = State.Stopping;
        // A sync pass stops here; recovery resumes from its checkpoint at the next open.
        AbortSync("the array was stopped");
        ContinueStop();
    }

    private void Stopping(object message)
    {
        switch (message)
        {
            case Read or Write or Flush or ArrayProtocol.Stop:
                Refuse(message);
                break;
            case FlushCompleted:
                OnStopFlushed();
                break;
            case RequestFailed failed:
                // Not durable: keep every bit so the next open resyncs those regions.
                _log.Error("flush at stop failed, bitmap bits are kept: {0}", failed.Error.Message);
                FinishStop(clean: false);
                break;
            default:
                OnInternal(message);
                break;
        }
    }

    // Drain every request, flush the members, then let the bitmap clear its idle bits (md_bitmap_flush
    // at stop) so that a clean stop leaves nothing to resync.
    private void ContinueStop()
    {
        if (_pending.Count > 0 || _stopFlushing)
            return;
        _stopFlushing = true;
        StartFlush(new PendingRequest(RequestKind.Flush, Self, null, fua: false), ++_nextRequestId);
    }

    private void OnStopFlushed()
    {
        if (_bitmap is null || _bitmap.IsNobody())
        {
            MarkCleanAndStop();
            return;
        }
        _bitmap.Tell(BitmapProtocol.Quiesce.Instance);
    }

    private void OnQuiesced() => MarkCleanAndStop();

    // Clean means: every row is consistent. Not after a resync was skipped (forced dirty degraded
    // start), nor while the bitmap is lost.
    private void MarkCleanAndStop()
    {
        var clean = _writesRefused is null && !_needsResync;
        if (clean && !_metadata.Clean)
            Record(_metadata with { Clean = true }, () => FinishStop(clean));
        else
            FinishStop(clean || _metadata.Clean); // a record still marked clean stays clean
    }

    private void FinishStop(bool clean)
    {
        if (clean)
            _log.Info("array {0} stopped cleanly", _metadata?.ArrayId);
        else
            _log.Warning("array {0} stopped dirty: the next open resyncs (or needs Force if degraded)", _metadata?.ArrayId);
        _stopRequester?.Tell(Stopped.Instance);
        Context.Stop(Self);
    }
}
