using System.Diagnostics;
using Akka.Actor;
using Akka.Configuration;
using Akka.Persistence;
using Akka.TestKit;
using LinqToDB;
using LinqToDB.Data;
using Microsoft.Data.Sqlite;
using Raid5Actors.Persistence;
using Xunit.Abstractions;

namespace Raid5Actors.Tests.Persistence;

public sealed class SqlitePersistenceSpec : Akka.TestKit.Xunit2.TestKit
{
    private const string kJournalA = "raid5.test.array-a.journal";
    private const string kSnapshotA = "raid5.test.array-a.snapshot-store";
    private const string kJournalB = "raid5.test.array-b.journal";
    private const string kSnapshotB = "raid5.test.array-b.snapshot-store";
    private static readonly TimeSpan kStartTimeout = TimeSpan.FromSeconds(15);

    private readonly ITestOutputHelper _output;
    private readonly string _folder;
    private readonly string _databaseA;
    private readonly string _databaseB;

    public SqlitePersistenceSpec(ITestOutputHelper output) : this(output, NewFolder())
    {
    }

    private SqlitePersistenceSpec(ITestOutputHelper output, string folder)
        : base(SystemConfig(folder), nameof(SqlitePersistenceSpec), output)
    {
        _output = output;
        _folder = folder;
        _databaseA = DatabaseA(folder);
        _databaseB = DatabaseB(folder);
    }

    [Fact]
    public async Task Recovery_starts_from_the_snapshot_and_replays_only_the_later_events()
    {
        var probe = CreateTestProbe();
        var counter = Sys.ActorOf(CounterActor.Props("array-a", kJournalA, kSnapshotA), "counter");
        foreach (var value in new[] { 1, 2, 3, 4, 5 })
        {
            counter.Tell(new Add(value), probe);
            probe.ExpectMsg<Persisted>(kStartTimeout);
        }
        counter.Tell(TakeSnapshot.Instance, probe);
        Assert.Equal(5, probe.ExpectMsg<SnapshotSaved>(kStartTimeout).SequenceNr);
        counter.Tell(new AddBatch([6, 7, 8]), probe);
        Assert.Equal(8, probe.ExpectMsg<Persisted>().SequenceNr);

        await Sys.Terminate();
        var second = ActorSystem.Create("second", Sys.Settings.Config);
        try
        {
            var (_, recovered) = Recover(second, "array-a", kJournalA, kSnapshotA);

            Assert.Equal(new[] { 1, 2, 3, 4, 5, 6, 7, 8 }, recovered.Values);
            Assert.Equal(5, recovered.SnapshotOfferedAt);
            Assert.Equal(new[] { 6, 7, 8 }, recovered.Replayed);
            Assert.Equal(8, recovered.LastSequenceNr);
        }
        finally
        {
            await second.Terminate();
            SqlitePersistence.ReleaseDatabase(_databaseA);
        }
    }

    [Fact]
    public async Task The_file_is_in_WAL_mode_and_linq2db_connections_run_synchronous_FULL()
    {
        var probe = CreateTestProbe();
        var counter = Sys.ActorOf(CounterActor.Props("array-a", kJournalA, kSnapshotA), "counter");
        counter.Tell(new Add(1), probe);
        probe.ExpectMsg<Persisted>(kStartTimeout);

        // The same DataOptions AkkaPersistenceDataConnectionFactory builds from the HOCON.
        var options = new DataOptions().UseConnectionString(
            SqlitePersistence.ProviderName, SqlitePersistence.ConnectionString(_databaseA));
        using (var db = new DataConnection(options))
        {
            var connection = db.OpenDbConnection();
            Assert.Equal(1L, db.Execute<long>("SELECT count(*) FROM journal"));
            var journalMode = db.Execute<string>("PRAGMA journal_mode");
            var synchronous = db.Execute<long>("PRAGMA synchronous");
            var compileOptions = db.Query<string>("PRAGMA compile_options").ToList();
            _output.WriteLine($"{connection.GetType().FullName}: journal_mode={journalMode} synchronous={synchronous}");
            _output.WriteLine("sqlite " + db.Execute<string>("SELECT sqlite_version()") + ": " +
                              string.Join(" ", compileOptions.Where(o => o.Contains("SYNCHRONOUS"))));

            Assert.IsType<SqliteConnection>(connection);
            Assert.Equal("wal", journalMode);
            Assert.Equal(2L, synchronous);
        }

        await Sys.Terminate();
        SqlitePersistence.ReleaseDatabase(_databaseA);
    }

    [Fact]
    public async Task Two_plugin_pairs_on_two_files_in_one_system_do_not_interfere()
    {
        var probe = CreateTestProbe();
        // The same persistence id in both: only the plugin ids keep them apart.
        var a = Sys.ActorOf(CounterActor.Props("array", kJournalA, kSnapshotA), "a");
        var b = Sys.ActorOf(CounterActor.Props("array", kJournalB, kSnapshotB), "b");
        a.Tell(new AddBatch([1, 2, 3]), probe);
        Assert.Equal(3, probe.ExpectMsg<Persisted>(kStartTimeout).SequenceNr);
        b.Tell(new AddBatch([10, 20]), probe);
        Assert.Equal(2, probe.ExpectMsg<Persisted>(kStartTimeout).SequenceNr);
        a.Tell(TakeSnapshot.Instance, probe);
        Assert.Equal(3, probe.ExpectMsg<SnapshotSaved>(kStartTimeout).SequenceNr);
        b.Tell(new Add(30), probe);
        Assert.Equal(3, probe.ExpectMsg<Persisted>().SequenceNr);

        await Sys.Terminate();
        SqlitePersistence.ReleaseDatabase(_databaseA);
        SqlitePersistence.ReleaseDatabase(_databaseB);
        Assert.Equal((3L, 1L), CountRows(_databaseA));
        Assert.Equal((3L, 0L), CountRows(_databaseB));

        var second = ActorSystem.Create("second", Sys.Settings.Config);
        try
        {
            var (_, recoveredA) = Recover(second, "array", kJournalA, kSnapshotA);
            var (_, recoveredB) = Recover(second, "array", kJournalB, kSnapshotB);

            Assert.Equal(new[] { 1, 2, 3 }, recoveredA.Values);
            Assert.Equal(3, recoveredA.SnapshotOfferedAt);
            Assert.Empty(recoveredA.Replayed);
            Assert.Equal(new[] { 10, 20, 30 }, recoveredB.Values);
            Assert.Null(recoveredB.SnapshotOfferedAt);
            Assert.Equal(new[] { 10, 20, 30 }, recoveredB.Replayed);
        }
        finally
        {
            await second.Terminate();
            SqlitePersistence.ReleaseDatabase(_databaseA);
            SqlitePersistence.ReleaseDatabase(_databaseB);
        }
    }

    [Fact]
    public async Task The_pool_holds_the_file_after_termination_until_released()
    {
        var probe = CreateTestProbe();
        var counter = Sys.ActorOf(CounterActor.Props("array-a", kJournalA, kSnapshotA), "counter");
        counter.Tell(new Add(1), probe);
        probe.ExpectMsg<Persisted>(kStartTimeout);
        await Sys.Terminate();

        var heldAfterTermination = OpenHandles(_databaseA);
        SqlitePersistence.ReleaseDatabase(_databaseA);
        var heldAfterRelease = OpenHandles(_databaseA);
        _output.WriteLine($"handles on the file after termination: {heldAfterTermination}, after release: {heldAfterRelease}");

        if (heldAfterTermination is null)
            return; // No /proc: nothing to look at.
        Assert.True(heldAfterTermination > 0, "the pool kept no connection open: ReleaseDatabase may be unnecessary now");
        Assert.Equal(0, heldAfterRelease);
    }

    [Fact]
    public async Task An_array_closed_and_reopened_many_times_in_one_process_keeps_every_event()
    {
        const int kCycles = 6;
        const int kSnapshotCycle = 3;
        await Sys.Terminate();
        for (var cycle = 0; cycle < kCycles; cycle++)
        {
            var system = ActorSystem.Create($"cycle-{cycle}", Sys.Settings.Config);
            try
            {
                var (counter, recovered) = Recover(system, "array-a", kJournalA, kSnapshotA);
                Assert.Equal(Enumerable.Range(0, cycle), recovered.Values);
                Assert.Equal(cycle > kSnapshotCycle ? kSnapshotCycle + 1 : null, recovered.SnapshotOfferedAt);

                var probe = CreateTestProbe(system);
                counter.Tell(new Add(cycle), probe);
                Assert.Equal(cycle + 1, probe.ExpectMsg<Persisted>(kStartTimeout).SequenceNr);
                if (cycle == kSnapshotCycle)
                {
                    counter.Tell(TakeSnapshot.Instance, probe);
                    Assert.Equal(cycle + 1, probe.ExpectMsg<SnapshotSaved>(kStartTimeout).SequenceNr);
                }
            }
            finally
            {
                await system.Terminate();
                SqlitePersistence.ReleaseDatabase(_databaseA);
            }
        }

        // After a release the folder can be deleted and recreated: the new file starts empty.
        Directory.Delete(Path.GetDirectoryName(_databaseA)!, recursive: true);
        SqlitePersistence.PrepareDatabase(_databaseA);
        var fresh = ActorSystem.Create("fresh", Sys.Settings.Config);
        try
        {
            var (_, recovered) = Recover(fresh, "array-a", kJournalA, kSnapshotA);
            Assert.Empty(recovered.Values);
            Assert.Equal(0, recovered.LastSequenceNr);
        }
        finally
        {
            await fresh.Terminate();
            SqlitePersistence.ReleaseDatabase(_databaseA);
        }
    }

    [Fact]
    public async Task Persist_latency_is_measured()
    {
        const int kRoundTrips = 200;
        const int kBatches = 50;
        const int kBatchEvents = 64;
        var probe = CreateTestProbe();
        var counter = Sys.ActorOf(CounterActor.Props("array-a", kJournalA, kSnapshotA), "counter");
        counter.Tell(new Add(0), probe);
        probe.ExpectMsg<Persisted>(kStartTimeout);

        var single = new double[kRoundTrips];
        for (var i = 0; i < kRoundTrips; i++)
        {
            var started = Stopwatch.GetTimestamp();
            counter.Tell(new Add(i), probe);
            probe.ExpectMsg<Persisted>();
            single[i] = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        }

        var batch = new double[kBatches];
        var values = Enumerable.Range(0, kBatchEvents).ToArray();
        for (var i = 0; i < kBatches; i++)
        {
            var started = Stopwatch.GetTimestamp();
            counter.Tell(new AddBatch(values), probe);
            probe.ExpectMsg<Persisted>();
            batch[i] = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        }

        _output.WriteLine($"PersistAsync, 1 event:      {Describe(single)}");
        _output.WriteLine($"PersistAllAsync, {kBatchEvents} events: {Describe(batch)}");
        counter.Tell(GetState.Instance, probe);
        Assert.Equal(1 + kRoundTrips + kBatches * kBatchEvents, probe.ExpectMsg<CounterState>().LastSequenceNr);
        await Sys.Terminate();
        SqlitePersistence.ReleaseDatabase(_databaseA);
    }

    protected override void AfterAll()
    {
        base.AfterAll();
        SqlitePersistence.ReleaseDatabase(_databaseA);
        SqlitePersistence.ReleaseDatabase(_databaseB);
        try
        {
            Directory.Delete(_folder, recursive: true);
        }
        catch (IOException)
        {
            // Best effort: a temp folder left behind is harmless.
        }
    }

    private (IActorRef Counter, CounterState State) Recover(
        ActorSystem system, string persistenceId, string journalId, string snapshotId)
    {
        var probe = CreateTestProbe(system);
        var counter = system.ActorOf(CounterActor.Props(persistenceId, journalId, snapshotId));
        counter.Tell(GetState.Instance, probe);
        return (counter, probe.ExpectMsg<CounterState>(kStartTimeout));
    }

    private static (long Journal, long Snapshot) CountRows(string databasePath)
    {
        var readOnly = new SqliteConnectionStringBuilder
        {
            DataSource = databasePath,
            Mode = SqliteOpenMode.ReadOnly,
            Pooling = false,
        };
        using var connection = new SqliteConnection(readOnly.ToString());
        connection.Open();
        return (Count(connection, "journal"), Count(connection, "snapshot"));

        static long Count(SqliteConnection connection, string table)
        {
            using var command = connection.CreateCommand();
            command.CommandText = $"SELECT count(*) FROM {table} WHERE persistence_id = 'array'";
            return (long)command.ExecuteScalar()!;
        }
    }

    // File descriptors of this process open on the file; null where /proc is not available.
    private static int? OpenHandles(string databasePath)
    {
        const string kFdFolder = "/proc/self/fd";
        if (!Directory.Exists(kFdFolder))
            return null;
        var target = Path.GetFullPath(databasePath);
        var count = 0;
        foreach (var fd in Directory.EnumerateFileSystemEntries(kFdFolder))
        {
            try
            {
                if (new FileInfo(fd).LinkTarget == target)
                    count++;
            }
            catch (IOException)
            {
                // The descriptor closed while we looked.
            }
        }
        return count;
    }

    private static string Describe(double[] samples_ms)
    {
        var sorted = samples_ms.Order().ToArray();
        double At(double q) => sorted[Math.Min(sorted.Length - 1, (int)(q * sorted.Length))];
        return $"median {At(0.5):F3} ms, p90 {At(0.9):F3} ms, p99 {At(0.99):F3} ms, mean {sorted.Average():F3} ms (n={sorted.Length})";
    }

    private static string NewFolder()
    {
        var folder = Path.Combine(Path.GetTempPath(), "raid5-sqlite-spec-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        return folder;
    }

    private static string DatabaseA(string folder) => Path.Combine(folder, "a", "array.db");

    private static string DatabaseB(string folder) => Path.Combine(folder, "b", "array.db");

    private static Config SystemConfig(string folder)
    {
        SqlitePersistence.PrepareDatabase(DatabaseA(folder));
        SqlitePersistence.PrepareDatabase(DatabaseB(folder));
        return SqlitePersistence.PluginConfig(DatabaseA(folder), kJournalA, kSnapshotA)
            .WithFallback(SqlitePersistence.PluginConfig(DatabaseB(folder), kJournalB, kSnapshotB))
            .WithFallback(SqlitePersistence.DefaultFallback);
    }

    public sealed record Add(int Value);

    public sealed record AddBatch(int[] Values);

    public sealed class TakeSnapshot
    {
        public static readonly TakeSnapshot Instance = new();
    }

    public sealed class GetState
    {
        public static readonly GetState Instance = new();
    }

    public sealed record Persisted(long SequenceNr);

    public sealed record SnapshotSaved(long SequenceNr);

    public sealed record CounterState(int[] Values, long? SnapshotOfferedAt, int[] Replayed, long LastSequenceNr);

    public sealed record Added(int Value);

    public sealed record CounterSnapshot(int[] Values);

    /// <summary>A list of ints kept with PersistAsync, the way the bitmap keeps its bits.</summary>
    private sealed class CounterActor : UntypedPersistentActor
    {
        private readonly List<int> _values = [];
        private readonly List<int> _replayed = [];
        private long? _snapshotOfferedAt;
        private IActorRef _snapshotRequester = ActorRefs.Nobody;

        public CounterActor(string persistenceId, string journalPluginId, string snapshotPluginId)
        {
            PersistenceId = persistenceId;
            JournalPluginId = journalPluginId;
            SnapshotPluginId = snapshotPluginId;
        }

        public static Props Props(string persistenceId, string journalPluginId, string snapshotPluginId) =>
            Akka.Actor.Props.Create(() => new CounterActor(persistenceId, journalPluginId, snapshotPluginId));

        public override string PersistenceId { get; }

        protected override void OnRecover(object message)
        {
            switch (message)
            {
                case SnapshotOffer offer:
                    _values.Clear();
                    _values.AddRange(((CounterSnapshot)offer.Snapshot).Values);
                    _snapshotOfferedAt = offer.Metadata.SequenceNr;
                    break;
                case Added added:
                    _values.Add(added.Value);
                    _replayed.Add(added.Value);
                    break;
            }
        }

        protected override void OnCommand(object message)
        {
            switch (message)
            {
                case Add add:
                {
                    var sender = Sender;
                    PersistAsync(new Added(add.Value), added =>
                    {
                        _values.Add(added.Value);
                        sender.Tell(new Persisted(LastSequenceNr));
                    });
                    break;
                }
                case AddBatch batch:
                {
                    var sender = Sender;
                    var remaining = batch.Values.Length;
                    PersistAllAsync(batch.Values.Select(v => new Added(v)), added =>
                    {
                        _values.Add(added.Value);
                        if (--remaining == 0)
                            sender.Tell(new Persisted(LastSequenceNr));
                    });
                    break;
                }
                case TakeSnapshot:
                    _snapshotRequester = Sender;
                    SaveSnapshot(new CounterSnapshot([.. _values]));
                    break;
                case SaveSnapshotSuccess saved:
                    _snapshotRequester.Tell(new SnapshotSaved(saved.Metadata.SequenceNr));
                    break;
                case SaveSnapshotFailure failed:
                    throw new InvalidOperationException("snapshot failed", failed.Cause);
                case GetState:
                    Sender.Tell(new CounterState([.. _values], _snapshotOfferedAt, [.. _replayed], LastSequenceNr));
                    break;
                default:
                    Unhandled(message);
                    break;
            }
        }
    }
}
