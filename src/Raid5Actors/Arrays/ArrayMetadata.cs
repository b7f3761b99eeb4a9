using Raid5Actors.Disks;
using Raid5Actors.Geometry;

namespace Raid5Actors.Arrays;

/// <summary>
/// What the array's journal records about it (the event that creates it, and its state): identity,
/// geometry, where data starts on the members, the bitmap chunk, and the event counter that every
/// member's superblock must carry.
/// </summary>
public sealed record ArrayMetadata(
    Guid ArrayId,
    int MemberCount,
    int ChunkBytes,
    Raid5Layout Layout,
    long MemberDataBytes,
    long DataOffsetBytes,
    long BitmapChunkBytes,
    long Events,
    DateTime CreatedUtc)
{
    public ArrayGeometry Geometry => ArrayGeometry.Create(MemberCount, ChunkBytes, Layout, MemberDataBytes);

    public MemberSuperblock SuperblockFor(int role) =>
        new(ArrayId, role, Events, MemberCount, ChunkBytes, Layout, MemberDataBytes, DataOffsetBytes);
}

/// <summary>Journal event: the array was created with this metadata.</summary>
public sealed record ArrayCreated(ArrayMetadata Metadata);

/// <summary>A member store opened by the facade, with the superblock found on it (null if blank).</summary>
public sealed record OpenedMember(int Role, IMemberStore Store, MemberSuperblock? Superblock);
