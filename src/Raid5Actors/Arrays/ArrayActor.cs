using Akka.Actor;
using Akka.Event;
using Akka.Persistence;
using Raid5Actors.Bitmap;
using Raid5Actors.Configuration;
using Raid5Actors.Disks;
using Raid5Actors.Geometry;
using static Raid5Actors.Arrays.ArrayProtocol;

namespace Raid5Actors.Arrays;

/// <summary>
/// What an <see cref="ArrayActor"/> starts from: settings, every device store found (by device
/// index), the metadata to persist when creating (null to open), its journal, and the open policy:
/// <c>AllowDegraded</c> runs without a member that is missing or unusable (md's --run);
/// <c>Force</c> also starts an array that is dirty and degraded at once (md's start_dirty_degraded).
/// </summary>
public sealed record ArrayActorSetup(
    Raid5Settings Settings,
    IReadOnlyList<OpenedMember> Devices,
    ArrayMetadata? Create,
    string JournalPluginId,
    string SnapshotPluginId,
    string Location,
    Func<int, string> DescribeDevice,
    bool AllowDegraded = false,
    bool Force = false);

/// <summary>
/// One per array: md's mddev and r5conf. Owns the array metadata (persisted: membership, event
/// counter, clean flag, rebuild checkpoints), the member disk actors, the bitmap actor, the stripe
/// cache, every request in flight and the sync pass in progress.
///
/// Lifecycle (explicit states): Recovering -> Starting (children up, bitmap recovering) -> Running
/// -> Stopping -> stopped; or Failed when the array cannot be assembled (nothing written).
/// Guarantees: a request outside the device or unaligned is refused before any I/O; writes reach
/// members only through stripe actors (one per row, so work on a row is ordered); the stripe cache
/// never exceeds its size and work waiting for a slot is queued in arrival order, never dropped;
/// the bitmap is unplugged at the end of a burst, when too many stripes park, and on flush; a member
/// that fails a write is marked faulty (event counter bumped, in the journal first and then in the
/// superblocks of the others) and the array goes on degraded (I4).
///
/// Supervision: a stripe actor that throws is stopped and replaced; the new one first resyncs its
/// row (it may have been half written) and then redoes, in order, the work the old one had not
/// answered. A member disk actor that throws is restarted (the request that broke it is answered as
/// failed); one that throws more than 3 times a minute is stopped and its member marked faulty.
/// </summary>
public sealed partial class ArrayActor : UntypedPersistentActor, IWithTimers
{
    public const string kArrayPersistenceId = "raid5-array";
    public const string kBitmapPersistenceId = "raid5-bitmap";

    private enum State
    {
        Recovering,
        Starting,
        Running,
        Stopping,
        Failed,
    }

    private readonly ArrayActorSetup _setup;
    private readonly Raid5Settings _settings;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly List<IActorRef> _readyWaiters = [];
    private readonly Dictionary<int, OpenedMember> _devices;
    private State _state = State.Recovering;
    private ArrayMetadata _metadata = null!;
    private ArrayGeometry _geometry = null!;
    private IActorRef? _bitmap;
    private BitmapGeometry _bitmapGeometry;
    private Exception? _failure;
    private string? _writesRefused;
    private int _pendingResyncChunks;

    public ArrayActor(ArrayActorSetup setup)
    {
        _setup = setup;
        _settings = setup.Settings;
        _devices = setup.Devices.ToDictionary(d => d.Device);
        JournalPluginId = setup.JournalPluginId;
        SnapshotPluginId = setup.SnapshotPluginId;
    }

    public static Props Props(ArrayActorSetup setup) => Akka.Actor.Props.Create(() => new ArrayActor(setup));

    public override string PersistenceId => kArrayPersistenceId;

    public ITimerScheduler Timers { get; set; } = null!;

    protected override SupervisorStrategy SupervisorStrategy() => new OneForOneStrategy(
        maxNrOfRetries: 3,
        withinTimeRange: TimeSpan.FromMinutes(1),
        localOnlyDecider: e => Sender.Path.Name.StartsWith("member-", StringComparison.Ordinal) ? Directive.Restart : Directive.Stop);

    protected override void OnRecover(object message)
    {
        switch (message)
        {
            case ArrayMetadataRecorded recorded:
                _metadata = recorded.Metadata;
                break;
            case RecoveryCompleted:
                Assemble();
                break;
        }
    }

    protected override void OnCommand(object message)
    {
        switch (message)
        {
            case WaitUntilReady:
                AnswerReady(Sender);
                return;
            case GetStatus:
                OnGetStatus();
                return;
            case GetMetadata when _metadata is not null:
                Sender.Tell(_metadata);
                return;
        }
        switch (_state)
        {
            case State.Starting:
                Starting(message);
                break;
            case State.Running:
                Running(message);
                break;
            case State.Stopping:
                Stopping(message);
                break;
            default:
                Refuse(message);
                break;
        }
    }

    /// <summary>Persists a new metadata record, then continues (commands wait meanwhile).</summary>
    private void Record(ArrayMetadata metadata, Action? then = null)
    {
        Persist(new ArrayMetadataRecorded(metadata), recorded =>
        {
            _metadata = recorded.Metadata;
            then?.Invoke();
        });
    }

    private void Assemble()
    {
        if (_metadata is null && _setup.Create is null)
        {
            Fail(new Raid5OpenException($"{_setup.Location} holds no array (its journal has no array metadata)"));
            return;
        }
        if (_metadata is not null && _setup.Create is not null)
        {
            Fail(new Raid5OpenException($"{_setup.Location} already holds array {_metadata.ArrayId}"));
            return;
        }
        if (_metadata is null)
        {
            Record(_setup.Create!, () =>
            {
                _log.Info("created array {0}: {1}", _metadata!.ArrayId, _setup.Location);
                StartChildren();
            });
            return;
        }
        var assembly = MemberValidation.Assemble(_metadata, _devices, _setup.DescribeDevice, _setup.AllowDegraded || _setup.Force, _setup.Force);
        if (assembly.Error is not null)
        {
            Fail(assembly.Error);
            return;
        }
        var metadata = assembly.Metadata;
        if (!metadata.Clean && metadata.Degraded && !_setup.Force)
        {
            Fail(new Raid5OpenException(
                $"{_setup.Location} was not stopped cleanly and is degraded (member {string.Join(", ", metadata.Slots.Where(s => s.State != MemberState.InSync).Select(s => s.Role))} missing): "
                + "the parity of the rows being written at the crash cannot be trusted to rebuild the missing member (the RAID5 write hole). "
                + "Bring the missing member back, or open with Force to run anyway and accept that those rows may be wrong.",
                overrideWith: Raid5OpenOverride.Force));
            return;
        }
        _needsResync = !metadata.Clean;
        foreach (var note in assembly.Notes)
            _log.Warning("{0}", note);
        if (!ReferenceEquals(metadata, _metadata))
            Record(metadata, StartChildren);
        else
            StartChildren();
    }

    private void StartChildren()
    {
        _geometry = _metadata.Geometry;
        _stripeCacheSize = _settings.StripeCacheSizeFor(_geometry);
        _bitmapGeometry = BitmapGeometry.For(_metadata.MemberDataBytes, _metadata.BitmapChunkBytes);
        foreach (var slot in _metadata.Slots.Where(s => s.State != MemberState.Faulty && s.Device >= 0))
            StartDevice(slot.Device);
        foreach (var spare in _metadata.Spares)
            StartDevice(spare);
        // Stores found but not used by the array (stale or foreign devices) are closed.
        foreach (var unused in _devices.Values.Where(d => !_deviceActors.ContainsKey(d.Device)).ToList())
        {
            unused.Store.Dispose();
            _devices.Remove(unused.Device);
        }
        RebuildViews();
        if (_settings.Bitmap.Enabled)
        {
            _bitmap = Context.ActorOf(
                BitmapBatchActor.Props(kBitmapPersistenceId, _bitmapGeometry, _settings.Bitmap, Self, JournalPluginId, SnapshotPluginId),
                "bitmap");
            Context.Watch(_bitmap);
            _state = State.Starting;
        }
        else
        {
            _state = State.Starting;
            Self.Tell(new BitmapProtocol.BitmapReady(ActorRefs.Nobody, 0));
        }
        WriteSuperblocks();
    }

    private void Starting(object message)
    {
        switch (message)
        {
            case BitmapProtocol.BitmapReady ready:
                _pendingResyncChunks = ready.PendingResyncChunks;
                _state = State.Running;
                Timers.StartPeriodicTimer(nameof(SweepIdleStripes), SweepIdleStripes.Instance, _settings.StripeIdleTimeout / 2);
                foreach (var waiter in _readyWaiters)
                    AnswerReady(waiter);
                _readyWaiters.Clear();
                StartPendingSync();
                break;
            case Terminated t when t.ActorRef.Equals(_bitmap):
                Fail(new Raid5OpenException($"{_setup.Location}: the write-intent bitmap could not be recovered"));
                break;
            case Read or Write or Flush or FailMember or RemoveMember or AddMember or StartSync or WaitForSync or ArrayProtocol.Stop:
                Refuse(message);
                break;
            default:
                OnInternal(message);
                break;
        }
    }

    private void AnswerReady(IActorRef waiter)
    {
        switch (_state)
        {
            case State.Running:
                waiter.Tell(new ArrayReady(_metadata));
                break;
            case State.Failed or State.Stopping:
                waiter.Tell(new ArrayOpenFailed(_failure ?? new Raid5Exception("the array is stopping")));
                break;
            default:
                _readyWaiters.Add(waiter);
                break;
        }
    }

    private void Fail(Exception error)
    {
        _log.Error("{0}", error.Message);
        _failure = error;
        _state = State.Failed;
        // Stores not handed to disk actors are closed here.
        foreach (var device in _devices.Values.Where(d => !_deviceActors.ContainsKey(d.Device)))
            device.Store.Dispose();
        foreach (var waiter in _readyWaiters)
            AnswerReady(waiter);
        _readyWaiters.Clear();
    }

    private void Refuse(object message)
    {
        var reason = _state switch
        {
            State.Failed => _failure!,
            State.Stopping => new Raid5Exception("the array is stopping"),
            _ => new Raid5Exception("the array is still starting"),
        };
        switch (message)
        {
            case Write write:
                write.Data.Dispose();
                Sender.Tell(new RequestFailed(reason));
                break;
            case AddMember add:
                add.Device.Store.Dispose();
                Sender.Tell(new RequestFailed(reason));
                break;
            case Read or Flush or FailMember or RemoveMember or StartSync or WaitForSync or GetMetadata:
                Sender.Tell(new RequestFailed(reason));
                break;
            case ArrayProtocol.Stop:
                Sender.Tell(Stopped.Instance);
                if (_state == State.Failed)
                    Context.Stop(Self);
                break;
            default:
                Unhandled(message);
                break;
        }
    }

    protected override void OnPersistFailure(Exception cause, object @event, long sequenceNr)
    {
        Fail(new Raid5OpenException($"{_setup.Location}: could not record the array metadata: {cause.Message}", cause));
        base.OnPersistFailure(cause, @event, sequenceNr);
    }
}
