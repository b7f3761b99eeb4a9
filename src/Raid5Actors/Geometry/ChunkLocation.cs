namespace Raid5Actors.Geometry;

/// <summary>
/// Where one logical byte lives.
/// </summary>
/// <param name="Row">md's "stripe": the chunk-sized row across all members.</param>
/// <param name="DataIndex">md's dd: which data chunk of the row, 0 .. DataMembers-1.</param>
/// <param name="Member">The member disk holding that chunk.</param>
/// <param name="OffsetInChunk">Byte offset inside the chunk.</param>
/// <param name="MemberOffset">Byte offset on the member, relative to the start of its data area.</param>
public readonly record struct ChunkLocation(long Row, int DataIndex, int Member, int OffsetInChunk, long MemberOffset);
