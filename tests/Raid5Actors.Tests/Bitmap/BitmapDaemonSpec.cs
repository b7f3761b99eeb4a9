using Akka.Actor;
using Akka.Configuration;
using Akka.TestKit;
using Raid5Actors.Bitmap;
using Xunit.Abstractions;
using static Raid5Actors.Bitmap.BitmapProtocol;

namespace Raid5Actors.Tests.Bitmap;

/// <summary>
/// I2 bits outlive writes: the bitmap daemon of <see cref="BitmapBatchActor"/> clears a bit only
/// after two idle sweeps with no write under it. Time is a <see cref="TestScheduler"/> moved by hand,
/// one <c>daemon-sleep</c> at a time; the journal is an open <see cref="JournalGate"/> that records
/// every event written.
/// </summary>
public sealed class BitmapDaemonSpec : Akka.TestKit.Xunit2.TestKit
{
    private static readonly BitmapGeometry kGeometry = new(ChunkBytes: 64 * 1024, ChunkCount: 16);
    private static readonly TimeSpan kDaemonSleep = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan kStartTimeout = TimeSpan.FromSeconds(10);

    private readonly JournalGate _gate;

    public BitmapDaemonSpec(ITestOutputHelper output) : this(output, new JournalGate())
    {
    }

    private BitmapDaemonSpec(ITestOutputHelper output, JournalGate gate)
        : base(ConfigurationFactory.ParseString("""akka.scheduler.implementation = "Akka.TestKit.TestScheduler, Akka.TestKit" """)
                .WithFallback(gate.SystemConfig()),
            nameof(BitmapDaemonSpec), output)
    {
        _gate = gate;
    }

    private TestScheduler Scheduler => (TestScheduler)Sys.Scheduler;

    [Fact]
    public void An_idle_bit_is_cleared_after_the_second_daemon_sweep_and_not_the_first()
    {
        var bitmap = StartBitmap();
        var stripe = CreateTestProbe("stripe");
        WriteDurably(bitmap, stripe, 3);
        bitmap.Tell(new EndWrite(3, 3), stripe);
        AssertBits(bitmap, set: 1, durable: 1);

        Sweep();
        AssertBits(bitmap, set: 1, durable: 1);
        Assert.Equal(["set 3"], _gate.WrittenEvents);

        Sweep();
        AwaitAssert(() => Assert.Equal(0, Status(bitmap).SetChunks));
        AwaitAssert(() => Assert.Equal(0, Status(bitmap).DurableChunks));
        Assert.Equal(["set 3", "cleared 3"], _gate.WrittenEvents);
    }

    [Fact]
    public void A_bit_with_a_write_still_in_flight_is_never_cleared()
    {
        var bitmap = StartBitmap();
        var finished = CreateTestProbe("stripe-finished");
        var writing = CreateTestProbe("stripe-writing");
        bitmap.Tell(new StartWrite(0, 0), finished);
        bitmap.Tell(new StartWrite(1, 1), writing);
        finished.ExpectMsg<WriteStarted>();
        writing.ExpectMsg<WriteStarted>();
        bitmap.Tell(Unplug.Instance);
        finished.ExpectMsg<BatchDurable>();
        writing.ExpectMsg<BatchDurable>();
        bitmap.Tell(new EndWrite(0, 0), finished);

        for (var sweep = 1; sweep <= 6; sweep++)
        {
            Sweep();
            var expectedSet = sweep < 2 ? 2 : 1; // bit 0 goes at the second sweep, bit 1 never
            AwaitAssert(() => AssertBits(bitmap, set: expectedSet, durable: expectedSet));
        }
        Assert.Equal(["set 0,1", "cleared 0"], _gate.WrittenEvents);

        // Once its write ends, bit 1 gets the same two sweeps as any other.
        bitmap.Tell(new EndWrite(1, 1), writing);
        Sweep();
        AssertBits(bitmap, set: 1, durable: 1);
        Sweep();
        AwaitAssert(() => AssertBits(bitmap, set: 0, durable: 0));
        Assert.Equal(["set 0,1", "cleared 0", "cleared 1"], _gate.WrittenEvents);
    }

    [Fact]
    public void A_new_write_after_one_idle_sweep_restarts_the_count()
    {
        var bitmap = StartBitmap();
        var first = CreateTestProbe("stripe-first");
        var second = CreateTestProbe("stripe-second");
        WriteDurably(bitmap, first, 2);
        bitmap.Tell(new EndWrite(2, 2), first);
        Sweep(); // idle once

        WriteDurably(bitmap, second, 2);
        Sweep(); // the write is in flight: not idle
        AssertBits(bitmap, set: 1, durable: 1);
        bitmap.Tell(new EndWrite(2, 2), second);
        Sweep(); // idle once again, not twice
        AssertBits(bitmap, set: 1, durable: 1);
        Sweep();
        AwaitAssert(() => AssertBits(bitmap, set: 0, durable: 0));
        // The second write found its bit durable: no second BitsSet was needed.
        Assert.Equal(["set 2", "cleared 2"], _gate.WrittenEvents);
    }

    [Fact]
    public void A_bit_whose_write_missed_a_member_stays_set_as_needed()
    {
        var bitmap = StartBitmap();
        var stripe = CreateTestProbe("stripe");
        WriteDurably(bitmap, stripe, 7);
        bitmap.Tell(new EndWrite(7, 7, Degraded: true), stripe);

        for (var sweep = 0; sweep < 4; sweep++)
            Sweep();
        var status = Status(bitmap);
        Assert.Equal((1, 1, 1), (status.SetChunks, status.DurableChunks, status.PendingResyncChunks));
        Assert.Equal(["set 7"], _gate.WrittenEvents);
    }

    [Fact]
    public void An_idle_bit_is_cleared_only_after_the_members_flushed()
    {
        var owner = CreateTestProbe("owner");
        var bitmap = StartBitmap(owner);
        var stripe = CreateTestProbe("stripe");
        WriteDurably(bitmap, stripe, 5);
        bitmap.Tell(new EndWrite(5, 5), stripe);

        Sweep();
        owner.ExpectNoMsg(TimeSpan.FromMilliseconds(100)); // one idle sweep: nothing to clear yet
        Sweep();
        var flush = owner.ExpectMsg<FlushBeforeClear>();
        Sweep(); // no second request while the first is out
        owner.ExpectNoMsg(TimeSpan.FromMilliseconds(100));
        AssertBits(bitmap, set: 1, durable: 1);

        // A member could not flush: the writes under the bit may not be durable, so it stays.
        bitmap.Tell(new MembersFlushed(flush.Generation, Durable: false), owner);
        AssertBits(bitmap, set: 1, durable: 1);
        Sweep();
        flush = owner.ExpectMsg<FlushBeforeClear>();
        bitmap.Tell(new MembersFlushed(flush.Generation, Durable: true), owner);
        AwaitAssert(() => AssertBits(bitmap, set: 0, durable: 0));
        Assert.Equal(["set 5", "cleared 5"], _gate.WrittenEvents);
    }

    [Fact]
    public void A_write_that_starts_while_the_members_flush_keeps_its_bit()
    {
        var owner = CreateTestProbe("owner");
        var bitmap = StartBitmap(owner);
        var first = CreateTestProbe("stripe-first");
        WriteDurably(bitmap, first, 6);
        bitmap.Tell(new EndWrite(6, 6), first);
        Sweep();
        Sweep();
        var flush = owner.ExpectMsg<FlushBeforeClear>();

        var second = CreateTestProbe("stripe-second");
        WriteDurably(bitmap, second, 6); // in flight when the flush answer comes
        bitmap.Tell(new MembersFlushed(flush.Generation, Durable: true), owner);
        AssertBits(bitmap, set: 1, durable: 1);
        Assert.Equal(["set 6"], _gate.WrittenEvents);
    }

    private IActorRef StartBitmap(TestProbe? owner = null)
    {
        if (owner is null)
        {
            // The array's part: flush every member, then answer. Here every flush succeeds.
            owner = CreateTestProbe("owner");
            owner.SetAutoPilot(new DelegateAutoPilot((sender, message) =>
            {
                if (message is FlushBeforeClear flush)
                    sender.Tell(new MembersFlushed(flush.Generation, Durable: true));
                return AutoPilot.KeepRunning;
            }));
        }
        var settings = new BitmapSettings(kDaemonSleep, SnapshotEveryEvents: 1000, InitialSequence: 0);
        var bitmap = Sys.ActorOf(
            BitmapBatchActor.Props("bitmap", kGeometry, settings, owner, JournalGate.kJournalPluginId, JournalGate.kSnapshotPluginId),
            "bitmap");
        // The daemon timer is started on recovery: wait for it before moving time.
        owner.ExpectMsg<BitmapReady>(kStartTimeout);
        return bitmap;
    }

    private static void WriteDurably(IActorRef bitmap, TestProbe stripe, int bit)
    {
        bitmap.Tell(new StartWrite(bit, bit), stripe);
        var started = stripe.ExpectMsg<WriteStarted>();
        bitmap.Tell(Unplug.Instance);
        Assert.Equal(started.BmSeq, stripe.ExpectMsg<BatchDurable>().SeqWrite);
    }

    // The sweep is delivered to the bitmap's mailbox during Advance, ahead of anything sent after.
    private void Sweep() => Scheduler.Advance(kDaemonSleep);

    private void AssertBits(IActorRef bitmap, int set, int durable)
    {
        var status = Status(bitmap);
        Assert.Equal((set, durable), (status.SetChunks, status.DurableChunks));
    }

    private BitmapStatus Status(IActorRef bitmap)
    {
        var probe = CreateTestProbe();
        bitmap.Tell(GetBitmapStatus.Instance, probe);
        return probe.ExpectMsg<BitmapStatus>();
    }

    protected override void AfterAll()
    {
        base.AfterAll();
        _gate.Dispose();
    }
}
