using Akka.Actor;
using static Raid5Actors.Disks.MemberDiskProtocol;

namespace Raid5Actors.Tests.TestKit;

/// <summary>Messages a test sends to a <see cref="MemberInterceptor"/> to shape the traffic it lets through.</summary>
public static class MemberInterceptorProtocol
{
    public enum InterceptAction
    {
        /// <summary>Swallow the request: the sender gets no reply at all.</summary>
        Drop,

        /// <summary>Forward the request after <see cref="InterceptRule.Delay"/>, through the scheduler.</summary>
        Delay,

        /// <summary>Reply <see cref="IoFailed"/> with reason "injected" without forwarding.</summary>
        Fail,

        /// <summary>Keep the request until a <see cref="Release"/>, then forward it.</summary>
        Hold,
    }

    /// <summary>
    /// Applies <see cref="Action"/> to the next <see cref="Count"/> requests of <see cref="Kind"/>
    /// (every one when <see cref="Count"/> is null). Rules are tried in the order they were added;
    /// the first live one that matches wins, and a counted rule is gone once used up.
    /// The interceptor answers <see cref="RuleAdded"/>.
    /// </summary>
    public sealed record InterceptRule
    {
        public InterceptRule(IoKind kind, InterceptAction action, int? count = null, TimeSpan delay = default)
        {
            if (count is <= 0)
                throw new ArgumentOutOfRangeException(nameof(count), count, "a counted rule needs at least one message");
            if (action == InterceptAction.Delay && delay <= TimeSpan.Zero)
                throw new ArgumentOutOfRangeException(nameof(delay), delay, "a delay rule needs a positive delay");
            if (action != InterceptAction.Delay && delay != TimeSpan.Zero)
                throw new ArgumentException("only a delay rule takes a delay", nameof(delay));
            Kind = kind;
            Action = action;
            Count = count;
            Delay = delay;
        }

        public IoKind Kind { get; }

        public InterceptAction Action { get; }

        public int? Count { get; }

        public TimeSpan Delay { get; }

        public static InterceptRule Drop(IoKind kind, int? count = null) => new(kind, InterceptAction.Drop, count);

        public static InterceptRule DelayBy(IoKind kind, TimeSpan delay, int? count = null) => new(kind, InterceptAction.Delay, count, delay);

        public static InterceptRule Fail(IoKind kind, int? count = null) => new(kind, InterceptAction.Fail, count);

        public static InterceptRule Hold(IoKind kind, int? count = null) => new(kind, InterceptAction.Hold, count);
    }

    public sealed record RuleAdded(InterceptRule Rule);

    /// <summary>Removes every rule; held requests stay held until released. Answered with <see cref="RulesCleared"/>.</summary>
    public sealed record ClearRules
    {
        public static readonly ClearRules Instance = new();
    }

    public sealed record RulesCleared
    {
        public static readonly RulesCleared Instance = new();
    }

    /// <summary>Forwards the held requests (of one kind, or all when null) in arrival order. Answered with <see cref="Released"/>.</summary>
    public sealed record Release(IoKind? Kind = null);

    public sealed record Released(int Count);
}

/// <summary>
/// Stands in front of a member disk actor (or a probe) and forwards its protocol messages with the
/// original sender, except where a test's rules drop, delay, fail or hold them. Owns its rules and
/// its held requests; holds at most <see cref="kMaxHeld"/> (more is a test bug). Anything that is
/// not a member request is forwarded untouched.
/// </summary>
public sealed class MemberInterceptor : UntypedActor
{
    public const int kMaxHeld = 10_000;

    private const string kInjectedReason = "injected";

    private readonly IActorRef _target;
    private readonly int _role;
    private readonly List<LiveRule> _rules = [];
    private readonly List<(object Message, IoKind Kind, IActorRef Sender)> _held = [];

    public MemberInterceptor(IActorRef target, int role)
    {
        _target = target;
        _role = role;
    }

    /// <param name="target">The member disk actor the requests are meant for.</param>
    /// <param name="role">The member's role, for the <see cref="IoFailed"/> replies this interceptor makes up.</param>
    public static Props Props(IActorRef target, int role) =>
        Akka.Actor.Props.Create(() => new MemberInterceptor(target, role));

    protected override void OnReceive(object message)
    {
        switch (message)
        {
            case MemberInterceptorProtocol.InterceptRule rule:
                _rules.Add(new LiveRule(rule, rule.Count));
                Sender.Tell(new MemberInterceptorProtocol.RuleAdded(rule));
                break;
            case MemberInterceptorProtocol.ClearRules:
                _rules.Clear();
                Sender.Tell(MemberInterceptorProtocol.RulesCleared.Instance);
                break;
            case MemberInterceptorProtocol.Release release:
                Sender.Tell(new MemberInterceptorProtocol.Released(ReleaseHeld(release.Kind)));
                break;
            default:
                if (TryClassify(message) is { } request)
                    Intercept(message, request.Kind, request.Tag);
                else
                    _target.Forward(message);
                break;
        }
    }

    private void Intercept(object message, IoKind kind, long tag)
    {
        var rule = TakeRule(kind);
        switch (rule?.Action)
        {
            case null:
                _target.Forward(message);
                break;
            case MemberInterceptorProtocol.InterceptAction.Drop:
                break;
            case MemberInterceptorProtocol.InterceptAction.Delay:
                Context.System.Scheduler.ScheduleTellOnce(rule.Delay, _target, message, Sender);
                break;
            case MemberInterceptorProtocol.InterceptAction.Fail:
                Sender.Tell(new IoFailed(tag, _role, kind, kInjectedReason));
                break;
            case MemberInterceptorProtocol.InterceptAction.Hold:
                if (_held.Count >= kMaxHeld)
                    throw new InvalidOperationException($"member {_role}: more than {kMaxHeld} requests held; release them");
                _held.Add((message, kind, Sender));
                break;
        }
    }

    private MemberInterceptorProtocol.InterceptRule? TakeRule(IoKind kind)
    {
        var index = _rules.FindIndex(r => r.Rule.Kind == kind);
        if (index < 0)
            return null;
        var live = _rules[index];
        if (live.Remaining is { } remaining)
        {
            if (remaining == 1)
                _rules.RemoveAt(index);
            else
                _rules[index] = live with { Remaining = remaining - 1 };
        }
        return live.Rule;
    }

    private int ReleaseHeld(IoKind? kind)
    {
        var released = 0;
        foreach (var (message, heldKind, sender) in _held)
        {
            if (kind is not null && heldKind != kind)
                continue;
            _target.Tell(message, sender);
            released++;
        }
        _held.RemoveAll(h => kind is null || h.Kind == kind);
        return released;
    }

    private static (IoKind Kind, long Tag)? TryClassify(object message) => message switch
    {
        ReadBlock read => (IoKind.Read, read.Tag),
        WriteBlock write => (IoKind.Write, write.Tag),
        FlushMember flush => (IoKind.Flush, flush.Tag),
        WriteSuperblock superblock => (IoKind.Superblock, superblock.Tag),
        _ => null,
    };

    private sealed record LiveRule(MemberInterceptorProtocol.InterceptRule Rule, int? Remaining);
}
