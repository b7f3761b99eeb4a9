using Akka.Actor;
using Akka.TestKit;
using Xunit.Abstractions;
using static Raid5Actors.Disks.MemberDiskProtocol;
using static Raid5Actors.Tests.TestKit.MemberInterceptorProtocol;

namespace Raid5Actors.Tests.TestKit;

/// <summary>
/// <see cref="MemberInterceptor"/> between a stripe (a probe) and a member disk (a probe): what each
/// rule lets through, to whom, with which sender, and when.
/// </summary>
public sealed class MemberInterceptorSpec(ITestOutputHelper output)
    : Akka.TestKit.Xunit2.TestKit("akka.loglevel = WARNING", nameof(MemberInterceptorSpec), output)
{
    private const int kRole = 2;
    private static readonly TimeSpan kQuiet = TimeSpan.FromMilliseconds(200);

    [Fact]
    public void Without_rules_requests_reach_the_disk_with_the_stripe_as_sender()
    {
        var (disk, stripe, interceptor) = Setup();

        interceptor.Tell(Read(1), stripe.Ref);
        interceptor.Tell(Write(2), stripe.Ref);
        interceptor.Tell(new FlushMember(3), stripe.Ref);

        Assert.Equal(1, disk.ExpectMsg<ReadBlock>().Tag);
        Assert.Equal(stripe.Ref, disk.LastSender);
        Assert.Equal(2, disk.ExpectMsg<WriteBlock>().Tag);
        Assert.Equal(stripe.Ref, disk.LastSender);
        Assert.Equal(3, disk.ExpectMsg<FlushMember>().Tag);
        Assert.Equal(stripe.Ref, disk.LastSender);

        // The disk's reply goes straight back to the stripe.
        disk.Reply(new IoCompleted(3, kRole, IoKind.Flush));
        stripe.ExpectMsg(new IoCompleted(3, kRole, IoKind.Flush));
    }

    [Fact]
    public void Drop_next_n_swallows_exactly_n_requests_of_its_kind()
    {
        var (disk, stripe, interceptor) = Setup();
        AddRule(interceptor, InterceptRule.Drop(IoKind.Write, count: 2));

        interceptor.Tell(Write(1), stripe.Ref);
        interceptor.Tell(Read(2), stripe.Ref);
        interceptor.Tell(Write(3), stripe.Ref);
        interceptor.Tell(Write(4), stripe.Ref);

        Assert.Equal(2, disk.ExpectMsg<ReadBlock>().Tag);
        Assert.Equal(4, disk.ExpectMsg<WriteBlock>().Tag);
        disk.ExpectNoMsg(kQuiet);
        stripe.ExpectNoMsg(TimeSpan.Zero);
    }

    [Fact]
    public void Drop_all_swallows_every_request_of_its_kind_and_passes_the_others()
    {
        var (disk, stripe, interceptor) = Setup();
        AddRule(interceptor, InterceptRule.Drop(IoKind.Flush));

        for (var tag = 1; tag <= 5; tag++)
            interceptor.Tell(new FlushMember(tag), stripe.Ref);
        interceptor.Tell(Read(6), stripe.Ref);

        Assert.Equal(6, disk.ExpectMsg<ReadBlock>().Tag);
        disk.ExpectNoMsg(kQuiet);
        stripe.ExpectNoMsg(TimeSpan.Zero);
    }

    [Fact]
    public void Fail_replies_IoFailed_to_the_sender_and_never_reaches_the_disk()
    {
        var (disk, stripe, interceptor) = Setup();
        AddRule(interceptor, InterceptRule.Fail(IoKind.Read, count: 1));

        interceptor.Tell(Read(7), stripe.Ref);
        interceptor.Tell(Read(8), stripe.Ref);

        stripe.ExpectMsg(new IoFailed(7, kRole, IoKind.Read, "injected"));
        Assert.Equal(8, disk.ExpectMsg<ReadBlock>().Tag);
        disk.ExpectNoMsg(kQuiet);
        stripe.ExpectNoMsg(TimeSpan.Zero);
    }

    [Fact]
    public void Delay_forwards_later_with_the_original_sender_and_lets_undelayed_requests_overtake()
    {
        var (disk, stripe, interceptor) = Setup();
        var delay = Dilated(TimeSpan.FromMilliseconds(300));
        AddRule(interceptor, InterceptRule.DelayBy(IoKind.Write, delay, count: 1));

        interceptor.Tell(Write(1), stripe.Ref);
        interceptor.Tell(Read(2), stripe.Ref);

        Assert.Equal(2, disk.ExpectMsg<ReadBlock>().Tag);
        // Not before the delay has (nearly) passed; the scheduler may fire a tick early.
        disk.ExpectNoMsg(delay / 2);
        Assert.Equal(1, disk.ExpectMsg<WriteBlock>(Dilated(TimeSpan.FromSeconds(3))).Tag);
        Assert.Equal(stripe.Ref, disk.LastSender);
    }

    [Fact]
    public void Hold_keeps_requests_until_release_then_forwards_them_in_order_with_their_senders()
    {
        var (disk, stripe, interceptor) = Setup();
        var other = CreateTestProbe("other-stripe");
        AddRule(interceptor, InterceptRule.Hold(IoKind.Write));
        AddRule(interceptor, InterceptRule.Hold(IoKind.Flush));

        interceptor.Tell(Write(1), stripe.Ref);
        interceptor.Tell(Write(2), other.Ref);
        interceptor.Tell(new FlushMember(3), stripe.Ref);
        interceptor.Tell(Read(4), stripe.Ref);
        Assert.Equal(4, disk.ExpectMsg<ReadBlock>().Tag);
        disk.ExpectNoMsg(kQuiet);

        interceptor.Tell(new Release(IoKind.Write));
        ExpectMsg(new Released(2));
        Assert.Equal(1, disk.ExpectMsg<WriteBlock>().Tag);
        Assert.Equal(stripe.Ref, disk.LastSender);
        Assert.Equal(2, disk.ExpectMsg<WriteBlock>().Tag);
        Assert.Equal(other.Ref, disk.LastSender);
        disk.ExpectNoMsg(kQuiet);

        interceptor.Tell(new Release());
        ExpectMsg(new Released(1));
        Assert.Equal(3, disk.ExpectMsg<FlushMember>().Tag);
        Assert.Equal(stripe.Ref, disk.LastSender);
    }

    [Fact]
    public void Clearing_rules_lets_requests_through_but_keeps_held_ones_held()
    {
        var (disk, stripe, interceptor) = Setup();
        AddRule(interceptor, InterceptRule.Hold(IoKind.Read));
        interceptor.Tell(Read(1), stripe.Ref);

        interceptor.Tell(ClearRules.Instance);
        ExpectMsg(RulesCleared.Instance);
        interceptor.Tell(Read(2), stripe.Ref);

        Assert.Equal(2, disk.ExpectMsg<ReadBlock>().Tag);
        disk.ExpectNoMsg(kQuiet);
        interceptor.Tell(new Release());
        ExpectMsg(new Released(1));
        Assert.Equal(1, disk.ExpectMsg<ReadBlock>().Tag);
    }

    [Fact]
    public void Rules_apply_in_the_order_added_and_a_used_up_rule_gives_way_to_the_next()
    {
        var (disk, stripe, interceptor) = Setup();
        AddRule(interceptor, InterceptRule.Fail(IoKind.Write, count: 1));
        AddRule(interceptor, InterceptRule.Drop(IoKind.Write, count: 1));

        interceptor.Tell(Write(1), stripe.Ref);
        interceptor.Tell(Write(2), stripe.Ref);
        interceptor.Tell(Write(3), stripe.Ref);

        stripe.ExpectMsg(new IoFailed(1, kRole, IoKind.Write, "injected"));
        Assert.Equal(3, disk.ExpectMsg<WriteBlock>().Tag);
        disk.ExpectNoMsg(kQuiet);
        stripe.ExpectNoMsg(TimeSpan.Zero);
    }

    private (TestProbe Disk, TestProbe Stripe, IActorRef Interceptor) Setup()
    {
        var disk = CreateTestProbe("disk");
        var stripe = CreateTestProbe("stripe");
        var interceptor = Sys.ActorOf(MemberInterceptor.Props(disk.Ref, kRole));
        return (disk, stripe, interceptor);
    }

    private void AddRule(IActorRef interceptor, InterceptRule rule)
    {
        interceptor.Tell(rule);
        ExpectMsg(new RuleAdded(rule));
    }

    private static ReadBlock Read(long tag) => new(tag, tag * 4096, new byte[4096]);

    private static WriteBlock Write(long tag) => new(tag, tag * 4096, new byte[4096]);
}
