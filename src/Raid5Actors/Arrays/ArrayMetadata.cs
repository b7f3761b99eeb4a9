using Raid5Actors.Disks;
using Raid5Actors.Geometry;

namespace Raid5Actors.Arrays;

/// <summary>What a role of the array holds right now.</summary>
public enum MemberState : byte
{
    /// <summary>Holds current data for every row.</summary>
    InSync,

    /// <summary>Failed or missing: neither read nor written until replaced or re-added.</summary>
    Faulty,

    /// <summary>Being rebuilt: current below <see cref="SlotRecord.RebuiltRows"/>, treated as missing above it.</summary>
    Rebuilding,
}

/// <summary>One role of the array: which device holds it and in what state.</summary>
/// <remarks>
/// <c>Device</c> is the index of the member store in the provider (file <c>member-NN.img</c>), -1 when
/// none. <c>FromBitmap</c>: a rebuild that only needs the regions whose bits are set (a re-added member).
/// </remarks>
public sealed record SlotRecord(int Role, int Device, MemberState State, long RebuiltRows = 0, bool FromBitmap = false)
{
    public bool HoldsRow(long row) => State == MemberState.InSync || (State == MemberState.Rebuilding && row < RebuiltRows);
}

/// <summary>
/// What the array's journal records about it: identity, geometry, where data starts on the members,
/// the bitmap chunk, the event counter, the role of every device and its state, the spares, and
/// whether the array was stopped cleanly. Every change is journaled as the whole new record
/// (<see cref="ArrayMetadataRecorded"/>): it is small and changes rarely.
/// </summary>
/// <remarks>
/// Event counter: bumped on every membership change, and written to the superblocks of the members
/// that hold data. The metadata is journaled first, the superblocks after, so an in-sync member's
/// superblock may lag by one bump: its events must lie in [<c>MinSuperblockEvents</c>, <c>Events</c>].
/// <c>EventsCleared</c> is the event count when the array last became whole again (md's
/// events_cleared): a member that left at or after it missed only writes whose bits are still set.
/// </remarks>
public sealed record ArrayMetadata(
    Guid ArrayId,
    int MemberCount,
    int ChunkBytes,
    Raid5Layout Layout,
    long MemberDataBytes,
    long DataOffsetBytes,
    long BitmapChunkBytes,
    long Events,
    DateTime CreatedUtc,
    IReadOnlyList<SlotRecord> Slots,
    IReadOnlyList<int> Spares,
    bool Clean,
    long MinSuperblockEvents,
    long EventsCleared)
{
    public static ArrayMetadata New(
        int memberCount, int chunkBytes, Raid5Layout layout, long memberDataBytes, long dataOffsetBytes, long bitmapChunkBytes, int spares) =>
        new(Guid.NewGuid(), memberCount, chunkBytes, layout, memberDataBytes, dataOffsetBytes, bitmapChunkBytes,
            Events: 1, DateTime.UtcNow,
            Enumerable.Range(0, memberCount).Select(role => new SlotRecord(role, role, MemberState.InSync)).ToArray(),
            Enumerable.Range(memberCount, spares).ToArray(),
            Clean: true, MinSuperblockEvents: 1, EventsCleared: 1);

    public ArrayGeometry Geometry => ArrayGeometry.Create(MemberCount, ChunkBytes, Layout, MemberDataBytes);

    /// <summary>Roles that hold no current data at all.</summary>
    public int MissingCount => Slots.Count(s => s.State != MemberState.InSync);

    public bool Degraded => MissingCount > 0;

    /// <summary>Two or more roles without data: some data is lost until a member comes back.</summary>
    public bool Failed => MissingCount >= 2;

    /// <summary>The next device index not used by any role or spare.</summary>
    public int NextDevice => Slots.Select(s => s.Device).Concat(Spares).DefaultIfEmpty(-1).Max() + 1;

    public MemberSuperblock SuperblockFor(int role) =>
        new(ArrayId, role, Events, MemberCount, ChunkBytes, Layout, MemberDataBytes, DataOffsetBytes);

    public ArrayMetadata WithSlot(SlotRecord slot) =>
        this with { Slots = Slots.Select(s => s.Role == slot.Role ? slot : s).ToArray() };

    /// <summary>A membership change: a new event count that the superblocks have yet to catch up with.</summary>
    public ArrayMetadata Bumped() => this with { Events = Events + 1, MinSuperblockEvents = Events };

    // Value equality for the role and spare lists too (records compare collections by reference).
    public bool Equals(ArrayMetadata? other) =>
        other is not null && ArrayId == other.ArrayId && MemberCount == other.MemberCount && ChunkBytes == other.ChunkBytes
        && Layout == other.Layout && MemberDataBytes == other.MemberDataBytes && DataOffsetBytes == other.DataOffsetBytes
        && BitmapChunkBytes == other.BitmapChunkBytes && Events == other.Events && CreatedUtc == other.CreatedUtc
        && Clean == other.Clean && MinSuperblockEvents == other.MinSuperblockEvents && EventsCleared == other.EventsCleared
        && Slots.SequenceEqual(other.Slots) && Spares.SequenceEqual(other.Spares);

    public override int GetHashCode() => HashCode.Combine(ArrayId, Events, Clean, Slots.Count, Spares.Count);
}

/// <summary>Journal event: the array's metadata is now this (the first one creates the array).</summary>
public sealed record ArrayMetadataRecorded(ArrayMetadata Metadata);

/// <summary>A member store opened by the facade, with the superblock found on it (null if blank).</summary>
public sealed record OpenedMember(int Device, IMemberStore Store, MemberSuperblock? Superblock);
