using Akka.Actor;

namespace Raid5Actors.Stripes;

/// <summary>
/// Which members a stripe may use for one piece of work, as the array saw them when sending: the
/// disk actor of each role, the roles holding no current data for this row (faulty, or not rebuilt
/// this far), and a live member whose block failed a read (rebuild it and write it back; -1 if none).
/// Carried by every message, so a stripe never talks to a device that left its role.
/// </summary>
public sealed record MemberView(IReadOnlyList<IActorRef> Members, int MissingMask, int RepairRole = -1)
{
    public bool IsMissing(int role) => (MissingMask & (1 << role)) != 0;

    public int MissingCount => System.Numerics.BitOperations.PopCount((uint)MissingMask);

    public MemberView WithMissing(int role) => this with { MissingMask = MissingMask | (1 << role) };
}

/// <summary>What a sync pass does to one row.</summary>
public enum SyncKind
{
    /// <summary>After an unclean stop: recompute parity where it differs (counted as mismatches).</summary>
    Resync,

    /// <summary>Count rows whose parity differs from the XOR of their data (md's mismatch_cnt); write nothing.</summary>
    Check,

    /// <summary>Like check, and rewrite the parity of mismatched rows.</summary>
    Repair,

    /// <summary>Rebuild a member's chunk of the row from the others and write it (recovery, re-add).</summary>
    Recover,
}

/// <summary>Messages between the array actor and a <see cref="StripeActor"/>. Work is done in arrival order.</summary>
public static class StripeProtocol
{
    /// <summary>
    /// Write <c>Data</c> at <c>OffsetInRowBytes</c> of the row's logical data (sector aligned).
    /// <c>Data</c> is lent by the array actor until the stripe answers for <c>RequestId</c>.
    /// </summary>
    public sealed record StripeWrite(long RequestId, int OffsetInRowBytes, ReadOnlyMemory<byte> Data, MemberView View);

    /// <summary>Read through the stripe: used when a block must be rebuilt from the other members.</summary>
    public sealed record StripeRead(long RequestId, int OffsetInRowBytes, Memory<byte> Destination, MemberView View);

    /// <summary>One row of a sync pass; <c>TargetRole</c> is the member rebuilt by <see cref="SyncKind.Recover"/>.</summary>
    public sealed record StripeSync(long RequestId, SyncKind Kind, MemberView View, int TargetRole = -1);

    /// <summary><c>Mismatch</c>: a sync found the row's parity inconsistent.</summary>
    public sealed record StripeWorkCompleted(long RequestId, long Row, bool Mismatch = false);

    public sealed record StripeWorkFailed(long RequestId, long Row, string Reason);

    /// <summary>A member failed a write (or a repair write): the array marks it faulty.</summary>
    public sealed record StripeMemberFailed(long Row, int Role, string Reason);

    /// <summary>The stripe waits for its bitmap batch to become durable: time to unplug soon.</summary>
    public sealed record StripeParked(long Row);

    /// <summary>The bitmap is gone: fail the work waiting for it and every later write (never write unprotected).</summary>
    public sealed class BitmapUnavailable
    {
        public static readonly BitmapUnavailable Instance = new();

        private BitmapUnavailable()
        {
        }
    }
}
