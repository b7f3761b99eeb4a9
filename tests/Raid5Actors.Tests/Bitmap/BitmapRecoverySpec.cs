using Akka.Actor;
using Akka.Configuration;
using Akka.TestKit;
using Microsoft.Data.Sqlite;
using Raid5Actors.Bitmap;
using Raid5Actors.Configuration;
using Raid5Actors.Persistence;
using Xunit.Abstractions;
using static Raid5Actors.Bitmap.BitmapProtocol;

namespace Raid5Actors.Tests.Bitmap;

/// <summary>
/// I3's precondition: bits made durable by <see cref="BitmapBatchActor"/> in the real SQLite journal
/// come back after the actor, or the whole ActorSystem, stops without clearing them, through the
/// event path and through the snapshot path.
/// </summary>
public sealed class BitmapRecoverySpec : Akka.TestKit.Xunit2.TestKit
{
    private const string kArrayName = "bitmapspec";
    private const string kPersistenceId = "raid5-bitmap";
    private static readonly BitmapGeometry kGeometry = new(ChunkBytes: 64 * 1024, ChunkCount: 16);
    private static readonly TimeSpan kStartTimeout = TimeSpan.FromSeconds(15);
    private static readonly string kJournalId = Raid5ArrayConfig.JournalPluginId(kArrayName);
    private static readonly string kSnapshotId = Raid5ArrayConfig.SnapshotPluginId(kArrayName);

    private readonly string _folder;
    private readonly string _databasePath;

    public BitmapRecoverySpec(ITestOutputHelper output) : this(output, NewFolder())
    {
    }

    private BitmapRecoverySpec(ITestOutputHelper output, string folder)
        : base(SystemConfig(folder), nameof(BitmapRecoverySpec), output)
    {
        _folder = folder;
        _databasePath = DatabasePath(folder);
    }

    [Fact]
    public void Bits_made_durable_come_back_pending_resync_when_the_bitmap_actor_restarts()
    {
        var settings = Settings(snapshotEveryEvents: 1000);
        var bitmap = StartBitmap(Sys, settings, expectPending: 0);
        var a = CreateTestProbe("stripe-a");
        var b = CreateTestProbe("stripe-b");
        bitmap.Tell(new StartWrite(1, 1), a);
        bitmap.Tell(new StartWrite(5, 7), b);
        a.ExpectMsg<WriteStarted>();
        b.ExpectMsg<WriteStarted>();
        bitmap.Tell(Unplug.Instance);
        Assert.Equal(1, a.ExpectMsg<BatchDurable>(kStartTimeout).SeqWrite);
        Assert.Equal(1, b.ExpectMsg<BatchDurable>().SeqWrite);
        // a's write completed, but no daemon sweep ran: its bit is still durably set.
        bitmap.Tell(new EndWrite(1, 1), a);
        Assert.Equal(4, Status(Sys, bitmap).DurableChunks);
        Stop(Sys, bitmap);

        var restarted = StartBitmap(Sys, settings, expectPending: 4);
        var status = Status(Sys, restarted);
        Assert.Equal((4, 4, 4), (status.SetChunks, status.DurableChunks, status.PendingResyncChunks));
        Assert.Equal((0, 0, false, 0), (status.SeqFlush, status.SeqWrite, status.WriteInFlight, status.ParkedStripes));
        Stop(Sys, restarted);

        var journal = ReadJournal(Sys);
        Assert.Equal([1, 5, 6, 7], journal.Bits);
        Assert.Null(journal.SnapshotSequenceNr);
        Assert.Equal(["set 1,5,6,7"], journal.Replayed.Select(JournalGate.Describe));
    }

    [Fact]
    public async Task Bits_come_back_through_snapshots_after_the_system_is_terminated()
    {
        var settings = Settings(snapshotEveryEvents: 2);
        var bitmap = StartBitmap(Sys, settings, expectPending: 0);
        var first = CreateTestProbe("stripe-first");
        var second = CreateTestProbe("stripe-second");

        Batch(bitmap, first, 0, 1, expectSeqWrite: 1);    // event 1: set 0,1
        Batch(bitmap, second, 2, 2, expectSeqWrite: 2);   // event 2: set 2 -> snapshot {0,1,2}
        bitmap.Tell(new EndWrite(0, 1), first);
        bitmap.Tell(Quiesce.Instance, first);            // event 3: cleared 0,1 (2 is still written)
        first.ExpectMsg<Quiesced>(kStartTimeout);
        Batch(bitmap, first, 3, 3, expectSeqWrite: 3);    // event 4: set 3 -> snapshot {2,3}
        Batch(bitmap, second, 8, 9, expectSeqWrite: 4);   // event 5: set 8,9
        var before = Status(Sys, bitmap);
        Assert.Equal((4, 4), (before.SetChunks, before.DurableChunks));
        AwaitAssert(() => Assert.Equal(4L, LatestSnapshotSequenceNr()), kStartTimeout);

        await Sys.Terminate();
        SqlitePersistence.ReleaseDatabase(_databasePath);
        var system = ActorSystem.Create("restarted", Sys.Settings.Config);
        try
        {
            var restarted = StartBitmap(system, settings, expectPending: 4);
            var status = Status(system, restarted);
            Assert.Equal((4, 4, 4), (status.SetChunks, status.DurableChunks, status.PendingResyncChunks));
            Stop(system, restarted);

            var journal = ReadJournal(system);
            Assert.Equal([2, 3, 8, 9], journal.Bits);
            Assert.Equal(4L, journal.SnapshotSequenceNr);
            Assert.Equal([2, 3], journal.SnapshotBits);
            Assert.Equal(["set 8,9"], journal.Replayed.Select(JournalGate.Describe));
            Assert.Equal(5L, journal.LastSequenceNr);
        }
        finally
        {
            await system.Terminate();
            SqlitePersistence.ReleaseDatabase(_databasePath);
        }
    }

    // raid5.bitmap.snapshot-every-events promises bounded recovery. An array opened for a few writes
    // at a time (the CLI does exactly that) writes fewer events per run than the interval: unless the
    // events replayed at recovery count, no snapshot is ever taken and the journal replays forever.
    [Fact]
    public void Events_replayed_at_recovery_count_towards_the_next_snapshot()
    {
        var settings = Settings(snapshotEveryEvents: 2);
        var stripe = CreateTestProbe("stripe");
        var first = StartBitmap(Sys, settings, expectPending: 0);
        Batch(first, stripe, 4, 4, expectSeqWrite: 1); // event 1
        Stop(Sys, first);

        var second = StartBitmap(Sys, settings, expectPending: 1);
        Batch(second, stripe, 6, 6, expectSeqWrite: 1); // event 2: the second since the start of the journal
        AwaitAssert(() => Assert.Equal(2L, LatestSnapshotSequenceNr()), TimeSpan.FromSeconds(3));
        Stop(Sys, second);

        var journal = ReadJournal(Sys);
        Assert.Equal([4, 6], journal.Bits);
        Assert.Equal(2L, journal.SnapshotSequenceNr);
        Assert.Empty(journal.Replayed);
    }

    private void Batch(IActorRef bitmap, TestProbe stripe, int firstBit, int lastBit, int expectSeqWrite)
    {
        bitmap.Tell(new StartWrite(firstBit, lastBit), stripe);
        stripe.ExpectMsg<WriteStarted>();
        bitmap.Tell(Unplug.Instance);
        Assert.Equal(expectSeqWrite, stripe.ExpectMsg<BatchDurable>(kStartTimeout).SeqWrite);
    }

    private IActorRef StartBitmap(ActorSystem system, BitmapSettings settings, int expectPending)
    {
        var owner = CreateTestProbe(system);
        var bitmap = system.ActorOf(BitmapBatchActor.Props(kPersistenceId, kGeometry, settings, owner, kJournalId, kSnapshotId));
        var ready = owner.ExpectMsg<BitmapReady>(kStartTimeout);
        Assert.Equal(bitmap, ready.Bitmap);
        Assert.Equal(expectPending, ready.PendingResyncChunks);
        return bitmap;
    }

    private void Stop(ActorSystem system, IActorRef actor)
    {
        var watcher = CreateTestProbe(system);
        watcher.Watch(actor);
        system.Stop(actor);
        watcher.ExpectTerminated(actor);
    }

    private BitmapStatus Status(ActorSystem system, IActorRef bitmap)
    {
        var probe = CreateTestProbe(system);
        bitmap.Tell(GetBitmapStatus.Instance, probe);
        return probe.ExpectMsg<BitmapStatus>();
    }

    private RecoveredBitmap ReadJournal(ActorSystem system)
    {
        var probe = CreateTestProbe(system);
        system.ActorOf(BitmapJournalReader.Props(kPersistenceId, kJournalId, kSnapshotId, probe));
        return probe.ExpectMsg<RecoveredBitmap>(kStartTimeout);
    }

    private long LatestSnapshotSequenceNr()
    {
        var readOnly = new SqliteConnectionStringBuilder
        {
            DataSource = _databasePath,
            Mode = SqliteOpenMode.ReadOnly,
            Pooling = false,
        };
        using var connection = new SqliteConnection(readOnly.ToString());
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT coalesce(max(sequence_number), 0) FROM snapshot WHERE persistence_id = $id";
        command.Parameters.AddWithValue("$id", kPersistenceId);
        return (long)command.ExecuteScalar()!;
    }

    private static BitmapSettings Settings(int snapshotEveryEvents) =>
        new(DaemonSleep: TimeSpan.FromHours(1), snapshotEveryEvents, InitialSequence: 0);

    protected override void AfterAll()
    {
        base.AfterAll();
        SqlitePersistence.ReleaseDatabase(_databasePath);
        try
        {
            Directory.Delete(_folder, recursive: true);
        }
        catch (IOException)
        {
            // Best effort: a temp folder left behind is harmless.
        }
    }

    private static string NewFolder() =>
        Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "raid5-bitmap-spec-" + Guid.NewGuid().ToString("N"))).FullName;

    private static string DatabasePath(string folder) => Path.Combine(folder, "array.db");

    private static Config SystemConfig(string folder)
    {
        SqlitePersistence.PrepareDatabase(DatabasePath(folder));
        return Raid5ArrayConfig.For(DatabasePath(folder), kArrayName);
    }
}
