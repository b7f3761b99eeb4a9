using Akka.Actor;

namespace Raid5Actors.Bitmap;

/// <summary>
/// Messages of the write-intent bitmap (md's bitmap_startwrite / bitmap_endwrite / unplug).
/// Bit ranges are inclusive indexes of bitmap chunks in member-offset space.
/// </summary>
public static class BitmapProtocol
{
    /// <summary>A stripe is about to write: set its bits. Answered at once with <see cref="WriteStarted"/>.</summary>
    public sealed record StartWrite(int FirstBit, int LastBit)
    {
        public StartWrite Validate()
        {
            if (FirstBit < 0 || LastBit < FirstBit)
                throw new ArgumentException($"bad bit range [{FirstBit}, {LastBit}]");
            return this;
        }
    }

    /// <summary>
    /// The stripe's batch number. The stripe may write to members only once
    /// <c>unchecked(BmSeq - seq_write) &lt;= 0</c>; until then it waits for <see cref="BatchDurable"/>.
    /// </summary>
    public sealed record WriteStarted(int BmSeq, int SeqWrite);

    /// <summary>Batch <c>SeqWrite</c> (and every batch before it) is durable.</summary>
    public sealed record BatchDurable(int SeqWrite);

    /// <summary>The writes under these bits have completed on every member (or failed, if <c>Degraded</c>).</summary>
    public sealed record EndWrite(int FirstBit, int LastBit, bool Degraded = false);

    /// <summary>Close the open batch (<c>seq_flush++</c>).</summary>
    public sealed class Unplug
    {
        public static readonly Unplug Instance = new();

        private Unplug()
        {
        }
    }

    /// <summary>Clear every idle bit now and persist that (md_bitmap_flush at stop). Answered with <see cref="Quiesced"/>.</summary>
    public sealed class Quiesce
    {
        public static readonly Quiesce Instance = new();

        private Quiesce()
        {
        }
    }

    public sealed class Quiesced
    {
        public static readonly Quiesced Instance = new();

        private Quiesced()
        {
        }
    }

    /// <summary>Which bits are pinned ("needed" or pending resync): answered with <see cref="PinnedBits"/>.</summary>
    public sealed class GetPinnedBits
    {
        public static readonly GetPinnedBits Instance = new();

        private GetPinnedBits()
        {
        }
    }

    public sealed record PinnedBits(int[] Bits);

    /// <summary>
    /// The array is whole and every pinned region has been resynced or rebuilt: pinned bits become
    /// ordinary set bits, cleared after two idle sweeps.
    /// </summary>
    public sealed class ReleasePinned
    {
        public static readonly ReleasePinned Instance = new();

        private ReleasePinned()
        {
        }
    }

    /// <summary>
    /// To the owner: flush every member, then answer <see cref="MembersFlushed"/>. A bit may be
    /// cleared only once the writes it covered are durable on the members, not merely acknowledged
    /// into a disk's cache (md writes its cleared bitmap with a preflush for the same reason).
    /// </summary>
    public sealed record FlushBeforeClear(int Generation);

    /// <summary><c>Durable</c>: every member completed its flush.</summary>
    public sealed record MembersFlushed(int Generation, bool Durable);

    /// <summary>Sent to the owner once the bitmap has been recovered and accepts requests.</summary>
    public sealed record BitmapReady(IActorRef Bitmap, int PendingResyncChunks);

    public sealed class GetBitmapStatus
    {
        public static readonly GetBitmapStatus Instance = new();

        private GetBitmapStatus()
        {
        }
    }

    /// <summary>
    /// <c>SetChunks</c>: bits set in memory; <c>DurableChunks</c>: bits set in the journal;
    /// <c>PendingResyncChunks</c>: bits recovered after an unclean stop (or left "needed"), kept until a resync.
    /// </summary>
    public sealed record BitmapStatus(
        long ChunkBytes,
        int ChunkCount,
        int SetChunks,
        int DurableChunks,
        int PendingResyncChunks,
        int SeqFlush,
        int SeqWrite,
        bool WriteInFlight,
        int ParkedStripes);
}
