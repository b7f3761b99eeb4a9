using Akka.Actor;
using Akka.TestKit;
using Raid5Actors.Bitmap;
using Raid5Actors.Geometry;
using Raid5Actors.Stripes;
using Xunit.Abstractions;
using static Raid5Actors.Bitmap.BitmapProtocol;
using static Raid5Actors.Disks.MemberDiskProtocol;
using static Raid5Actors.Stripes.StripeProtocol;

namespace Raid5Actors.Tests.Bitmap;

/// <summary>
/// I1 bitmap before data, end to end through a real <see cref="StripeActor"/> and a real
/// <see cref="BitmapBatchActor"/> whose journal is held by a <see cref="JournalGate"/>: the member
/// disks are probes, so every pre-read and member write is seen, and answered, by the test.
/// </summary>
public sealed class BitmapBeforeDataSpec : Akka.TestKit.Xunit2.TestKit
{
    private const int kChunkBytes = 64 * 1024;
    private const long kMemberDataBytes = 1024 * 1024;
    private const long kRow = 2;
    private const byte kOldPeerByte = 0x5A;
    private static readonly TimeSpan kStartTimeout = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan kQuietPeriod = TimeSpan.FromMilliseconds(300);

    private readonly JournalGate _gate;
    private MemberView _view = null!;
    private readonly ArrayGeometry _geometry = ArrayGeometry.Create(3, kChunkBytes, Raid5Layout.LeftSymmetric, kMemberDataBytes);
    private readonly BitmapGeometry _bitmapGeometry = BitmapGeometry.For(kMemberDataBytes, kChunkBytes);

    public BitmapBeforeDataSpec(ITestOutputHelper output) : this(output, new JournalGate())
    {
    }

    private BitmapBeforeDataSpec(ITestOutputHelper output, JournalGate gate)
        : base(gate.SystemConfig(), nameof(BitmapBeforeDataSpec), output)
    {
        _gate = gate;
    }

    [Theory]
    [InlineData(0)]
    [InlineData(int.MaxValue)] // bm_seq wraps to int.MinValue while seq_write is int.MaxValue
    public void A_parked_stripe_pre_reads_but_writes_no_member_until_its_bitmap_batch_is_durable(int initialSequence)
    {
        var (bitmap, members, array) = StartStripeAndBitmap(initialSequence, out var stripe);
        var dataMember = _geometry.DataMember(kRow, 0);
        var peerMember = _geometry.DataMember(kRow, 1);
        var parityMember = _geometry.ParityMember(kRow);
        var memberOffset = kRow * kChunkBytes;
        var data = Pattern(ArrayGeometry.kPageBytes, seed: 7);
        _gate.Close();

        // One page of data chunk 0: reconstruct-write, so the stripe pre-reads the peer data page.
        stripe.Tell(new StripeWrite(RequestId: 1, OffsetInRowBytes: 0, data, _view));
        var read = members[peerMember].ExpectMsg<ReadBlock>();
        Assert.Equal(memberOffset, read.MemberOffsetBytes);
        Assert.Equal(ArrayGeometry.kPageBytes, read.Destination.Length);
        read.Destination.Span.Fill(kOldPeerByte);
        members[peerMember].Reply(new IoCompleted(read.Tag, peerMember, IoKind.Read));
        Assert.Equal(kRow, array.ExpectMsg<StripeParked>().Row);

        var parked = Status(bitmap);
        Assert.Equal(initialSequence, parked.SeqFlush);
        Assert.Equal(initialSequence, parked.SeqWrite);
        Assert.Equal(1, parked.SetChunks);
        Assert.Equal(0, parked.DurableChunks);
        Assert.Equal(1, parked.ParkedStripes);

        // The array's unplug closes the batch; its bitmap write is held by the journal.
        bitmap.Tell(Unplug.Instance);
        AwaitAssert(() => Assert.Equal(1, _gate.Held));
        members[dataMember].ExpectNoMsg(kQuietPeriod);
        AssertNoMessages(members);
        var inFlight = Status(bitmap);
        Assert.True(inFlight.WriteInFlight);
        Assert.Equal(initialSequence, inFlight.SeqWrite);
        Assert.Equal(unchecked(initialSequence + 1), inFlight.SeqFlush);
        Assert.Equal(0, inFlight.DurableChunks);
        Assert.Empty(_gate.Written);

        _gate.ReleaseOne();
        var dataWrite = members[dataMember].ExpectMsg<WriteBlock>();
        // By the time a member write is issued, the bitmap batch holding the bit is in the journal.
        Assert.Equal(["set 2"], _gate.WrittenEvents);
        var parityWrite = members[parityMember].ExpectMsg<WriteBlock>();
        Assert.Equal(memberOffset, dataWrite.MemberOffsetBytes);
        Assert.Equal(memberOffset, parityWrite.MemberOffsetBytes);
        Assert.Equal(data, dataWrite.Source.ToArray());
        Assert.Equal(data.Select(b => (byte)(b ^ kOldPeerByte)).ToArray(), parityWrite.Source.ToArray());
        members[peerMember].ExpectNoMsg(TimeSpan.Zero);

        var durable = Status(bitmap);
        Assert.False(durable.WriteInFlight);
        Assert.Equal(unchecked(initialSequence + 1), durable.SeqWrite);
        Assert.Equal(1, durable.DurableChunks);

        members[dataMember].Reply(new IoCompleted(dataWrite.Tag, dataMember, IoKind.Write));
        members[parityMember].Reply(new IoCompleted(parityWrite.Tag, parityMember, IoKind.Write));
        Assert.Equal(new StripeWorkCompleted(1, kRow), array.ExpectMsg<StripeWorkCompleted>());
        AwaitAssert(() => Assert.Equal(0, Status(bitmap).ParkedStripes));
    }

    [Fact]
    public void A_second_write_to_a_stripe_waits_for_the_next_unplug_even_though_its_bit_is_durable()
    {
        var (bitmap, members, array) = StartStripeAndBitmap(initialSequence: 0, out var stripe);
        var dataMember = _geometry.DataMember(kRow, 0);
        var peerMember = _geometry.DataMember(kRow, 1);
        var parityMember = _geometry.ParityMember(kRow);

        // A full-row write reads nothing: the stripe goes straight to waiting on the bitmap.
        stripe.Tell(new StripeWrite(1, 0, Pattern((int)_geometry.RowDataBytes, seed: 1), _view));
        array.ExpectMsg<StripeParked>();
        bitmap.Tell(Unplug.Instance);
        AnswerWrites(members, [dataMember, peerMember, parityMember]);
        array.ExpectMsg<StripeWorkCompleted>();

        _gate.Close();
        stripe.Tell(new StripeWrite(2, 0, Pattern((int)_geometry.RowDataBytes, seed: 2), _view));
        array.ExpectMsg<StripeParked>();
        members[dataMember].ExpectNoMsg(kQuietPeriod);
        AssertNoMessages(members);

        // The bit is already durable: the unplug releases the stripe without another journal write.
        bitmap.Tell(Unplug.Instance);
        AnswerWrites(members, [dataMember, peerMember, parityMember]);
        Assert.Equal(2, array.ExpectMsg<StripeWorkCompleted>().RequestId);
        Assert.Equal(0, _gate.Held);
        Assert.Single(_gate.Written);
        var status = Status(bitmap);
        Assert.Equal(2, status.SeqWrite);
        Assert.Equal(2, status.SeqFlush);
    }

    private (IActorRef Bitmap, TestProbe[] Members, TestProbe Array) StartStripeAndBitmap(int initialSequence, out IActorRef stripe)
    {
        var owner = CreateTestProbe("owner");
        var settings = new BitmapSettings(TimeSpan.FromHours(1), SnapshotEveryEvents: 1000, initialSequence);
        var bitmap = Sys.ActorOf(
            BitmapBatchActor.Props("bitmap", _bitmapGeometry, settings, owner, JournalGate.kJournalPluginId, JournalGate.kSnapshotPluginId),
            "bitmap");
        Assert.Equal(0, owner.ExpectMsg<BitmapReady>(kStartTimeout).PendingResyncChunks);
        var members = Enumerable.Range(0, _geometry.MemberCount).Select(m => CreateTestProbe($"member-{m}")).ToArray();
        var array = CreateTestProbe("array");
        _view = new MemberView(members.Select(m => m.Ref).ToArray(), MissingMask: 0);
        stripe = Sys.ActorOf(
            StripeActor.Props(_geometry, kRow, bitmap, _bitmapGeometry, array),
            $"stripe-{kRow}");
        return (bitmap, members, array);
    }

    private static void AnswerWrites(TestProbe[] members, int[] roles)
    {
        foreach (var role in roles)
        {
            var write = members[role].ExpectMsg<WriteBlock>();
            members[role].Reply(new IoCompleted(write.Tag, role, IoKind.Write));
        }
    }

    private static void AssertNoMessages(TestProbe[] members)
    {
        foreach (var member in members)
            Assert.False(member.HasMessages, $"{member.Ref.Path.Name} got a message while the stripe was parked");
    }

    private BitmapStatus Status(IActorRef bitmap)
    {
        var probe = CreateTestProbe();
        bitmap.Tell(GetBitmapStatus.Instance, probe);
        return probe.ExpectMsg<BitmapStatus>();
    }

    private static byte[] Pattern(int length, int seed) =>
        Enumerable.Range(0, length).Select(i => (byte)(i * 31 + seed)).ToArray();

    protected override void AfterAll()
    {
        base.AfterAll();
        _gate.Dispose();
    }
}
