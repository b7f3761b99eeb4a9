namespace Raid5Actors.Disks;

/// <summary>
/// Messages to and from a <see cref="MemberDiskActor"/>. Offsets are relative to the member's data
/// area. A read's destination and a write's source are lent to the disk actor until it replies.
/// Every request is answered with <see cref="IoCompleted"/> or <see cref="IoFailed"/> carrying the
/// caller's tag, in the order the requests arrived.
/// </summary>
public static class MemberDiskProtocol
{
    public enum IoKind
    {
        Read,
        Write,
        Flush,
        Superblock,
    }

    public sealed record ReadBlock(long Tag, long MemberOffsetBytes, Memory<byte> Destination);

    public sealed record WriteBlock(long Tag, long MemberOffsetBytes, ReadOnlyMemory<byte> Source);

    public sealed record FlushMember(long Tag);

    /// <summary>Rewrites the member's superblock (and flushes it), e.g. after the event counter moved.</summary>
    public sealed record WriteSuperblock(long Tag, MemberSuperblock Superblock);

    /// <summary>The device now holds this role (-1: spare); later answers carry it.</summary>
    public sealed record AssignRole(int Role);

    public sealed record IoCompleted(long Tag, int Role, IoKind Kind);

    public sealed record IoFailed(long Tag, int Role, IoKind Kind, string Reason);
}
