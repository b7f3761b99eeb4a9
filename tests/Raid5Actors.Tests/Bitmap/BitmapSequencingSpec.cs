using Akka.Actor;
using Akka.TestKit;
using Raid5Actors.Bitmap;
using Xunit.Abstractions;
using static Raid5Actors.Bitmap.BitmapProtocol;

namespace Raid5Actors.Tests.Bitmap;

/// <summary>
/// The seed's batch sequencing in <see cref="BitmapBatchActor"/>: <c>bm_seq = seq_flush + 1</c>, no
/// stall while a batch is written, release exactly when the batch is durable, and all of it across
/// the 32-bit wrap. Stripes are probes; the journal is held by a <see cref="JournalGate"/>.
/// </summary>
public sealed class BitmapSequencingSpec : Akka.TestKit.Xunit2.TestKit
{
    private static readonly BitmapGeometry kGeometry = new(ChunkBytes: 64 * 1024, ChunkCount: 16);
    private static readonly TimeSpan kStartTimeout = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan kQuietPeriod = TimeSpan.FromMilliseconds(250);

    private readonly JournalGate _gate;

    public BitmapSequencingSpec(ITestOutputHelper output) : this(output, new JournalGate())
    {
    }

    private BitmapSequencingSpec(ITestOutputHelper output, JournalGate gate)
        : base(gate.SystemConfig(), nameof(BitmapSequencingSpec), output)
    {
        _gate = gate;
    }

    [Fact]
    public void A_StartWrite_during_a_bitmap_write_is_answered_at_once_and_joins_the_next_batch()
    {
        var bitmap = StartBitmap(initialSequence: 0);
        var first = CreateTestProbe("stripe-1");
        var second = CreateTestProbe("stripe-2");
        _gate.Close();

        Assert.Equal(new WriteStarted(1, 0), StartWrite(bitmap, first, 0));
        bitmap.Tell(Unplug.Instance);
        AwaitAssert(() => Assert.Equal(1, _gate.Held));

        // Batch 1 is in the journal, not yet confirmed: the next stripe is answered anyway.
        var during = Status(bitmap);
        Assert.Equal(new WriteStarted(during.SeqFlush + 1, 0), StartWrite(bitmap, second, 1));
        Assert.Equal(2, during.SeqFlush + 1);
        var stillInFlight = Status(bitmap);
        Assert.True(stillInFlight.WriteInFlight);
        Assert.Equal(1, stillInFlight.SeqFlush);
        Assert.Equal(0, stillInFlight.SeqWrite);
        Assert.Equal(2, stillInFlight.ParkedStripes);
        Assert.Equal(2, stillInFlight.SetChunks);
        Assert.Equal(0, stillInFlight.DurableChunks);
        first.ExpectNoMsg(kQuietPeriod);
        Assert.False(second.HasMessages);

        _gate.ReleaseOne();
        Assert.Equal(1, first.ExpectMsg<BatchDurable>().SeqWrite);
        second.ExpectNoMsg(kQuietPeriod);
        var afterFirst = Status(bitmap);
        Assert.False(afterFirst.WriteInFlight);
        Assert.Equal((1, 1, 1, 1), (afterFirst.SeqFlush, afterFirst.SeqWrite, afterFirst.DurableChunks, afterFirst.ParkedStripes));
        Assert.Equal(["set 0"], _gate.WrittenEvents);

        // Bit 1 was never written: the second stripe needs its own unplug and journal write.
        bitmap.Tell(Unplug.Instance);
        AwaitAssert(() => Assert.Equal(1, _gate.Held));
        second.ExpectNoMsg(kQuietPeriod);
        _gate.ReleaseOne();
        Assert.Equal(2, second.ExpectMsg<BatchDurable>().SeqWrite);
        Assert.Equal(["set 0", "set 1"], _gate.WrittenEvents);
        var done = Status(bitmap);
        Assert.Equal((2, 2, 2, 0), (done.SeqFlush, done.SeqWrite, done.DurableChunks, done.ParkedStripes));
        Assert.False(first.HasMessages);
    }

    [Fact]
    public void A_StartWrite_for_a_bit_already_in_the_write_in_flight_is_released_by_the_next_unplug_without_another_write()
    {
        var bitmap = StartBitmap(initialSequence: 0);
        var first = CreateTestProbe("stripe-1");
        var second = CreateTestProbe("stripe-2");
        _gate.Close();

        StartWrite(bitmap, first, 4);
        bitmap.Tell(Unplug.Instance);
        AwaitAssert(() => Assert.Equal(1, _gate.Held));
        Assert.Equal(new WriteStarted(2, 0), StartWrite(bitmap, second, 4));

        _gate.ReleaseOne();
        Assert.Equal(1, first.ExpectMsg<BatchDurable>().SeqWrite);
        second.ExpectNoMsg(kQuietPeriod);

        // Batch 2 added no new bit: closing it completes it (the bit became durable with batch 1).
        bitmap.Tell(Unplug.Instance);
        Assert.Equal(2, second.ExpectMsg<BatchDurable>().SeqWrite);
        Assert.Equal(0, _gate.Held);
        Assert.Equal(["set 4"], _gate.WrittenEvents);
    }

    [Fact]
    public void Batches_through_the_32_bit_wrap_release_each_stripe_exactly_when_its_batch_is_durable()
    {
        const int kInitial = int.MaxValue - 3;
        var bitmap = StartBitmap(kInitial);
        var stripes = Enumerable.Range(0, 6).Select(i => CreateTestProbe($"stripe-{i}")).ToArray();
        _gate.Close();

        // Batch MaxValue-2 = {0}; it is written while batches MaxValue-1 and MaxValue fill.
        Assert.Equal(int.MaxValue - 2, StartWrite(bitmap, stripes[0], 0).BmSeq);
        bitmap.Tell(Unplug.Instance);
        AwaitAssert(() => Assert.Equal(1, _gate.Held));
        Assert.Equal(int.MaxValue - 1, StartWrite(bitmap, stripes[1], 1).BmSeq);
        bitmap.Tell(Unplug.Instance); // closes MaxValue-1 while MaxValue-2 is in flight
        Assert.Equal(int.MaxValue, StartWrite(bitmap, stripes[2], 2).BmSeq);
        ExpectNoRelease(stripes);

        _gate.ReleaseOne();
        Assert.Equal(int.MaxValue - 2, stripes[0].ExpectMsg<BatchDurable>().SeqWrite);
        // The next write (bits 1 and 2) starts at once for batch MaxValue-1.
        AwaitAssert(() => Assert.Equal(1, _gate.Held));
        ExpectNoRelease(stripes);
        var second = Status(bitmap);
        Assert.True(second.WriteInFlight);
        Assert.Equal((int.MaxValue - 1, int.MaxValue - 2), (second.SeqFlush, second.SeqWrite));

        bitmap.Tell(Unplug.Instance); // closes MaxValue: seq_flush reaches the top
        Assert.Equal(int.MaxValue, Status(bitmap).SeqFlush);
        _gate.ReleaseOne();
        Assert.Equal(int.MaxValue - 1, stripes[1].ExpectMsg<BatchDurable>().SeqWrite);
        // Bit 2 went out with that write, so batch MaxValue completes without a journal write.
        Assert.Equal(int.MaxValue, stripes[2].ExpectMsg<BatchDurable>().SeqWrite);
        Assert.Equal(0, _gate.Held);

        // Across the wrap: bm_seq = MinValue while seq_write = MaxValue. "bm_seq > seq_write" would release it now.
        Assert.Equal(new WriteStarted(int.MinValue, int.MaxValue), StartWrite(bitmap, stripes[3], 3));
        bitmap.Tell(Unplug.Instance);
        AwaitAssert(() => Assert.Equal(1, _gate.Held));
        Assert.Equal(new WriteStarted(int.MinValue + 1, int.MaxValue), StartWrite(bitmap, stripes[4], 3));
        ExpectNoRelease(stripes);
        _gate.ReleaseOne();
        Assert.Equal(int.MinValue, stripes[3].ExpectMsg<BatchDurable>().SeqWrite);
        stripes[4].ExpectNoMsg(kQuietPeriod);
        bitmap.Tell(Unplug.Instance);
        Assert.Equal(int.MinValue + 1, stripes[4].ExpectMsg<BatchDurable>().SeqWrite);

        Assert.Equal(new WriteStarted(int.MinValue + 2, int.MinValue + 1), StartWrite(bitmap, stripes[5], 5));
        bitmap.Tell(Unplug.Instance);
        AwaitAssert(() => Assert.Equal(1, _gate.Held));
        ExpectNoRelease(stripes);
        _gate.ReleaseOne();
        Assert.Equal(int.MinValue + 2, stripes[5].ExpectMsg<BatchDurable>().SeqWrite);

        var end = Status(bitmap);
        Assert.Equal(int.MinValue + 2, end.SeqFlush);
        Assert.Equal(int.MinValue + 2, end.SeqWrite);
        Assert.True(end.SeqWrite < 0);
        Assert.Equal(0, end.ParkedStripes);
        Assert.Equal(5, end.DurableChunks);
        Assert.Equal(["set 0", "set 1,2", "set 3", "set 5"], _gate.WrittenEvents);
        foreach (var stripe in stripes)
            Assert.False(stripe.HasMessages, $"{stripe.Ref.Path.Name} was released twice");
    }

    private IActorRef StartBitmap(int initialSequence)
    {
        var owner = CreateTestProbe("owner");
        var settings = new BitmapSettings(TimeSpan.FromHours(1), SnapshotEveryEvents: 1000, initialSequence);
        var bitmap = Sys.ActorOf(
            BitmapBatchActor.Props("bitmap", kGeometry, settings, owner, JournalGate.kJournalPluginId, JournalGate.kSnapshotPluginId),
            "bitmap");
        Assert.Equal(0, owner.ExpectMsg<BitmapReady>(kStartTimeout).PendingResyncChunks);
        return bitmap;
    }

    private static WriteStarted StartWrite(IActorRef bitmap, TestProbe stripe, int bit)
    {
        bitmap.Tell(new StartWrite(bit, bit), stripe);
        return stripe.ExpectMsg<WriteStarted>();
    }

    private void ExpectNoRelease(TestProbe[] stripes)
    {
        stripes[0].ExpectNoMsg(kQuietPeriod);
        foreach (var stripe in stripes)
            Assert.False(stripe.HasMessages, $"{stripe.Ref.Path.Name} was released while its batch was not durable");
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
