using System.Collections.Concurrent;
using System.Collections.Immutable;
using Akka.Configuration;
using Akka.Persistence;
using Akka.Persistence.Journal;
using Raid5Actors.Bitmap;
using Raid5Actors.Persistence;

namespace Raid5Actors.Tests.Bitmap;

/// <summary>
/// Holds journal writes until the test lets them through, so a spec can look at the bitmap (and the
/// stripes waiting on it) while a batch write is "in flight". Closed: every write waits, in arrival
/// order, until <see cref="ReleaseOne"/> or <see cref="Open"/>. Open: writes pass at once.
/// Records every payload whose write has completed, in journal order.
/// </summary>
public sealed class JournalGate : IDisposable
{
    public const string kJournalPluginId = "raid5.test.gated.journal";
    public const string kSnapshotPluginId = "akka.persistence.snapshot-store.inmem";

    private static readonly ConcurrentDictionary<string, JournalGate> s_gates = new();

    private readonly Lock _lock = new();
    private readonly Queue<TaskCompletionSource> _held = new();
    private readonly List<object> _written = [];
    private bool _closed;

    public JournalGate()
    {
        Id = Guid.NewGuid().ToString("N");
        s_gates[Id] = this;
    }

    public string Id { get; }

    /// <summary>The gated journal at <see cref="kJournalPluginId"/>, the in-memory snapshot store and the bitmap serializer.</summary>
    public Config SystemConfig() => ConfigurationFactory.ParseString($$"""
        raid5.test.gated.journal {
          class = "{{typeof(GatedMemoryJournal).AssemblyQualifiedName}}"
          plugin-dispatcher = "akka.actor.default-dispatcher"
          gate-id = "{{Id}}"
        }
        """).WithFallback(Raid5Serializer.BindingConfig);

    /// <summary>Writes that reached the journal and wait at the gate.</summary>
    public int Held
    {
        get
        {
            lock (_lock)
                return _held.Count;
        }
    }

    /// <summary>Payloads whose write completed, in journal order.</summary>
    public IReadOnlyList<object> Written
    {
        get
        {
            lock (_lock)
                return [.. _written];
        }
    }

    /// <summary><see cref="Written"/> as text ("set 1,2", "cleared 3"): the event records hold arrays, which compare by reference.</summary>
    public IReadOnlyList<string> WrittenEvents => [.. Written.Select(Describe)];

    public static string Describe(object payload) => payload switch
    {
        BitsSet set => "set " + string.Join(",", set.Bits),
        BitsCleared cleared => "cleared " + string.Join(",", cleared.Bits),
        _ => payload.GetType().Name,
    };

    public void Close()
    {
        lock (_lock)
            _closed = true;
    }

    /// <summary>Lets every held write through and every later one pass.</summary>
    public void Open()
    {
        TaskCompletionSource[] held;
        lock (_lock)
        {
            _closed = false;
            held = [.. _held];
            _held.Clear();
        }
        foreach (var write in held)
            write.SetResult();
    }

    /// <summary>Lets the oldest held write through; the gate stays closed.</summary>
    public void ReleaseOne()
    {
        TaskCompletionSource write;
        lock (_lock)
        {
            if (!_held.TryDequeue(out write!))
                throw new InvalidOperationException("no journal write is held at the gate");
        }
        write.SetResult();
    }

    public void Dispose()
    {
        s_gates.TryRemove(Id, out _);
        Open();
    }

    internal static JournalGate Find(string id) =>
        s_gates.TryGetValue(id, out var gate) ? gate : throw new InvalidOperationException($"no journal gate '{id}'");

    internal Task PassAsync()
    {
        lock (_lock)
        {
            if (!_closed)
                return Task.CompletedTask;
            var write = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _held.Enqueue(write);
            return write.Task;
        }
    }

    internal void Record(IEnumerable<object> payloads)
    {
        lock (_lock)
            _written.AddRange(payloads);
    }
}

/// <summary>
/// A <see cref="MemoryJournal"/> whose writes are confirmed only when their <see cref="JournalGate"/>
/// lets them through: the persistent actor sees a slow journal.
/// </summary>
public sealed class GatedMemoryJournal : MemoryJournal
{
    private readonly JournalGate _gate;

    public GatedMemoryJournal(Config config)
    {
        _gate = JournalGate.Find(config.GetString("gate-id"));
    }

    protected override async Task<IImmutableList<Exception>> WriteMessagesAsync(
        IEnumerable<AtomicWrite> messages, CancellationToken cancellationToken)
    {
        var writes = messages.ToList();
        // Store first, on the journal's own thread (MemoryJournal state is not ours to touch from a
        // continuation), then hold the confirmation: to the writer it is the same as a slow disk.
        var result = await base.WriteMessagesAsync(writes, cancellationToken).ConfigureAwait(false);
        await _gate.PassAsync().ConfigureAwait(false);
        _gate.Record(writes
            .SelectMany(w => (IEnumerable<IPersistentRepresentation>)w.Payload)
            .Select(p => p.Payload));
        return result;
    }
}
