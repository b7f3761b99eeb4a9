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
/// What an <see cref="ArrayActor"/> starts from. <c>Create</c> is the metadata to persist when the
/// journal holds no array yet (create), or null to open an existing array.
/// </summary>
public sealed record ArrayActorSetup(
    Raid5Settings Settings,
    IReadOnlyList<OpenedMember> Members,
    ArrayMetadata? Create,
    string JournalPluginId,
    string SnapshotPluginId,
    string Location);

/// <summary>
/// One per array: md's mddev and r5conf. Owns the array metadata (persisted), the member disk
/// actors, the bitmap actor, the stripe cache and every request in flight.
///
/// Lifecycle (explicit states): Recovering -> Starting (children up, bitmap recovering) -> Running
/// -> Stopping -> stopped; or Failed when the members do not match the metadata (nothing written).
/// Guarantees: a request outside the device or unaligned is refused before any I/O; writes reach
/// members only through stripe actors (one per row, so writes to a row are ordered); the stripe
/// cache never exceeds its size, and writes waiting for a slot are queued in arrival order, never
/// dropped; the bitmap is unplugged at the end of a burst, when too many stripes park, and on flush.
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
    private State _state = State.Recovering;
    private ArrayMetadata? _metadata;
    private ArrayGeometry _geometry = null!;
    private IActorRef[] _members = [];
    private IActorRef? _bitmap;
    private BitmapGeometry _bitmapGeometry;
    private Exception? _failure;
    private string? _writesRefused;

    public ArrayActor(ArrayActorSetup setup)
    {
        _setup = setup;
        _settings = setup.Settings;
        JournalPluginId = setup.JournalPluginId;
        SnapshotPluginId = setup.SnapshotPluginId;
    }

    public static Props Props(ArrayActorSetup setup) => Akka.Actor.Props.Create(() => new ArrayActor(setup));

    public override string PersistenceId => kArrayPersistenceId;

    public ITimerScheduler Timers { get; set; } = null!;

    protected override void OnRecover(object message)
    {
        switch (message)
        {
            case ArrayCreated created:
                _metadata = created.Metadata;
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
            Persist(new ArrayCreated(_setup.Create!), created =>
            {
                _metadata = created.Metadata;
                _log.Info("created array {0}: {1}", _metadata.ArrayId, _setup.Location);
                StartChildren();
            });
            return;
        }
        var error = MemberValidation.Check(_metadata, _setup.Members);
        if (error is not null)
        {
            Fail(new Raid5OpenException(error));
            return;
        }
        StartChildren();
    }

    private void StartChildren()
    {
        var metadata = _metadata!;
        _geometry = metadata.Geometry;
        _stripeCacheSize = _settings.StripeCacheSizeFor(_geometry);
        _bitmapGeometry = BitmapGeometry.For(metadata.MemberDataBytes, metadata.BitmapChunkBytes);
        _members = _setup.Members
            .Select(m => Context.ActorOf(
                MemberDiskActor.Props(m.Role, m.Store, metadata.DataOffsetBytes, metadata.MemberDataBytes, Raid5Settings.kMemberDispatcherId),
                $"member-{m.Role}"))
            .ToArray();
        _bitmap = Context.ActorOf(
            BitmapBatchActor.Props(kBitmapPersistenceId, _bitmapGeometry, _settings.Bitmap, Self, JournalPluginId, SnapshotPluginId),
            "bitmap");
        Context.Watch(_bitmap);
        _state = State.Starting;
    }

    private void Starting(object message)
    {
        switch (message)
        {
            case BitmapProtocol.BitmapReady ready:
                if (ready.PendingResyncChunks > 0)
                    _log.Warning("array was not stopped cleanly: {0} bitmap chunks need a resync", ready.PendingResyncChunks);
                _state = State.Running;
                Timers.StartPeriodicTimer(nameof(SweepIdleStripes), SweepIdleStripes.Instance, _settings.StripeIdleTimeout / 2);
                foreach (var waiter in _readyWaiters)
                    AnswerReady(waiter);
                _readyWaiters.Clear();
                break;
            case Terminated t when t.ActorRef.Equals(_bitmap):
                Fail(new Raid5OpenException($"{_setup.Location}: the write-intent bitmap could not be recovered"));
                break;
            default:
                Refuse(message);
                break;
        }
    }

    private void AnswerReady(IActorRef waiter)
    {
        switch (_state)
        {
            case State.Running:
                waiter.Tell(new ArrayReady(_metadata!));
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
        // The stores were never handed to disk actors: close them here.
        if (_members.Length == 0)
        {
            foreach (var member in _setup.Members)
                member.Store.Dispose();
        }
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
            case Read or Flush:
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
