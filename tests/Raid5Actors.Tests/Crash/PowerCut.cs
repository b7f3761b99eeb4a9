using System.Collections.Concurrent;
using System.Collections.Immutable;
using Akka.Actor;
using Akka.Configuration;
using Akka.Persistence;
using Akka.Persistence.Sql.Journal;
using Akka.Persistence.Sql.Snapshot;
using Raid5Actors.Arrays;
using Raid5Actors.Configuration;

namespace Raid5Actors.Tests.Crash;

/// <summary>What the journal under test does with the bitmap's writes.</summary>
public enum BitmapJournalMode
{
    /// <summary>The real SQLite journal: a write is acknowledged once it is committed.</summary>
    Honest,

    /// <summary>
    /// Broken on purpose (the teeth of the crash property): bitmap writes are acknowledged at once and
    /// committed only later, so stripes write data before their bits are durable (I1 broken). A
    /// power cut drops every write not yet committed.
    /// </summary>
    WriteBack,
}

/// <summary>
/// The power supply of one array's journal and snapshot store. The crash property cuts it at the
/// same instant as the member disks: from then on nothing reaches SQLite and nothing is
/// acknowledged, as when the host loses power. Without it, the engine would go on recording the
/// member failures it sees (and anything else) in a journal that a real power loss had stopped.
/// A commit already under way when the power goes may land or not, and is never acknowledged.
/// </summary>
public sealed class PowerSwitch : IDisposable
{
    private static readonly ConcurrentDictionary<string, PowerSwitch> s_switches = new();

    private readonly Lock _lock = new();
    private readonly List<Task> _underWay = [];
    private volatile bool _cut;

    public PowerSwitch(BitmapJournalMode mode = BitmapJournalMode.Honest, TimeSpan? writeBackDelay = null)
    {
        Mode = mode;
        WriteBackDelay = writeBackDelay ?? TimeSpan.FromSeconds(1);
        Id = Guid.NewGuid().ToString("N");
        s_switches[Id] = this;
    }

    public string Id { get; }

    public BitmapJournalMode Mode { get; }

    /// <summary>How long the <see cref="BitmapJournalMode.WriteBack"/> journal sits on acknowledged bitmap writes.</summary>
    public TimeSpan WriteBackDelay { get; }

    public bool IsCut => _cut;

    /// <summary>Bitmap writes acknowledged but not committed when the power went (write-back mode).</summary>
    public int DroppedWrites { get; internal set; }

    /// <summary>
    /// HOCON that puts the journal and snapshot store of array <paramref name="arrayName"/> behind this
    /// switch; the rest of their settings (connection string, provider) come from the engine's own
    /// configuration, which this overrides.
    /// </summary>
    public Config PluginOverride(string arrayName) => ConfigurationFactory.ParseString($$"""
        {{Raid5ArrayConfig.JournalPluginId(arrayName)}} {
          class = "{{typeof(PowerCutSqlJournal).AssemblyQualifiedName}}"
          power-switch = "{{Id}}"
        }
        {{Raid5ArrayConfig.SnapshotPluginId(arrayName)}} {
          class = "{{typeof(PowerCutSqlSnapshotStore).AssemblyQualifiedName}}"
          power-switch = "{{Id}}"
        }
        """);

    /// <summary>The power goes: no journal or snapshot write starts or is acknowledged any more.</summary>
    public void Cut() => _cut = true;

    /// <summary>Waits until every commit that was under way at the cut has landed or failed, so SQLite holds its final state.</summary>
    public async Task SettleAsync(TimeSpan timeout)
    {
        Task[] underWay;
        lock (_lock)
            underWay = [.. _underWay];
        var all = Task.WhenAll(underWay);
        if (await Task.WhenAny(all, Task.Delay(timeout)) != all)
            throw new TimeoutException($"journal commits under way at the power cut did not settle within {timeout}");
    }

    public void Dispose() => s_switches.TryRemove(Id, out _);

    internal static PowerSwitch Find(Config config)
    {
        var id = config.GetString("power-switch");
        return s_switches.TryGetValue(id, out var power) ? power : throw new InvalidOperationException($"no power switch '{id}'");
    }

    /// <summary>
    /// Runs a store operation while the power is on. Its outcome is passed on only if the power is
    /// still on when it completes; otherwise the caller waits forever, like a host that lost power.
    /// </summary>
    internal Task<T> Run<T>(Func<Task<T>> operation)
    {
        if (_cut)
            return new TaskCompletionSource<T>().Task;
        var task = operation();
        lock (_lock)
        {
            _underWay.RemoveAll(t => t.IsCompleted);
            _underWay.Add(task.ContinueWith(_ => { }, TaskScheduler.Default));
        }
        return task.ContinueWith(t => _cut ? new TaskCompletionSource<T>().Task : t, TaskScheduler.Default).Unwrap();
    }

    internal Task Run(Func<Task> operation) => Run(async () =>
    {
        await operation().ConfigureAwait(false);
        return true;
    });
}

/// <summary>
/// The engine's SQLite journal behind a <see cref="PowerSwitch"/>. In <see cref="BitmapJournalMode.WriteBack"/>
/// it also breaks the bitmap's durability on purpose: every write of the bitmap's persistence id is
/// acknowledged at once and committed, in order, only after the switch's delay (or never, if the
/// power goes first).
/// </summary>
public sealed class PowerCutSqlJournal : SqlWriteJournal, IWithTimers
{
    private sealed class CommitHeld
    {
        public static readonly CommitHeld Instance = new();
    }

    private readonly PowerSwitch _power;
    private readonly Queue<List<AtomicWrite>> _held = new();

    public PowerCutSqlJournal(Config journalConfig) : base(journalConfig)
    {
        _power = PowerSwitch.Find(journalConfig);
    }

    public ITimerScheduler Timers { get; set; } = null!;

    protected override Task<IImmutableList<Exception>> WriteMessagesAsync(IEnumerable<AtomicWrite> messages, CancellationToken cancellationToken)
    {
        var writes = messages.ToList();
        if (_power.Mode == BitmapJournalMode.WriteBack && writes.Count > 0 && writes[0].PersistenceId == ArrayActor.kBitmapPersistenceId)
        {
            if (_power.IsCut)
                return new TaskCompletionSource<IImmutableList<Exception>>().Task;
            _held.Enqueue(writes);
            if (_held.Count == 1)
                Timers.StartSingleTimer(nameof(CommitHeld), CommitHeld.Instance, _power.WriteBackDelay);
            return Task.FromResult<IImmutableList<Exception>>(null!); // "all written": the lie under test
        }
        return _power.Run(() => base.WriteMessagesAsync(writes, cancellationToken));
    }

    protected override bool ReceivePluginInternal(object message)
    {
        if (message is not CommitHeld)
            return base.ReceivePluginInternal(message);
        var held = _held.SelectMany(w => w).ToList();
        _held.Clear();
        if (_power.IsCut)
            _power.DroppedWrites += held.Count;
        else
            _ = _power.Run(() => base.WriteMessagesAsync(held, CancellationToken.None));
        return true;
    }

    protected override void PostStop()
    {
        // Still held when the system stops: the power cut lost them.
        _power.DroppedWrites += _held.Sum(w => w.Count);
        _held.Clear();
        base.PostStop();
    }

    protected override Task DeleteMessagesToAsync(string persistenceId, long toSequenceNr, CancellationToken cancellationToken) =>
        _power.Run(() => base.DeleteMessagesToAsync(persistenceId, toSequenceNr, cancellationToken));
}

/// <summary>The engine's SQLite snapshot store behind a <see cref="PowerSwitch"/>.</summary>
public sealed class PowerCutSqlSnapshotStore : SqlSnapshotStore
{
    private readonly PowerSwitch _power;

    public PowerCutSqlSnapshotStore(Config snapshotConfig) : base(snapshotConfig)
    {
        _power = PowerSwitch.Find(snapshotConfig);
    }

    protected override Task SaveAsync(SnapshotMetadata metadata, object snapshot, CancellationToken cancellationToken) =>
        _power.Run(() => base.SaveAsync(metadata, snapshot, cancellationToken));

    protected override Task DeleteAsync(SnapshotMetadata metadata, CancellationToken cancellationToken) =>
        _power.Run(() => base.DeleteAsync(metadata, cancellationToken));

    protected override Task DeleteAsync(string persistenceId, SnapshotSelectionCriteria criteria, CancellationToken cancellationToken) =>
        _power.Run(() => base.DeleteAsync(persistenceId, criteria, cancellationToken));
}
