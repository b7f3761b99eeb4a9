namespace Raid5Actors.Arrays;

/// <summary>Does each opened member belong to this array, in this role, with the current event count?</summary>
public static class MemberValidation
{
    /// <summary>Null when every member fits the metadata; otherwise the first problem, named.</summary>
    public static string? Check(ArrayMetadata metadata, IReadOnlyList<OpenedMember> members)
    {
        if (members.Count != metadata.MemberCount)
            return $"the array has {metadata.MemberCount} members but {members.Count} were given";
        foreach (var member in members.OrderBy(m => m.Role))
        {
            var name = member.Store.Name;
            var sb = member.Superblock;
            if (sb is null)
                return $"member {name} has no Raid5Actors superblock: it is blank or not a member of any array";
            if (sb.ArrayId != metadata.ArrayId)
                return $"member {name} belongs to array {sb.ArrayId}, not to this array {metadata.ArrayId}";
            if (sb.Role != member.Role)
                return $"member {name} holds role {sb.Role} but was found in the slot of role {member.Role}";
            if (sb.MemberCount != metadata.MemberCount || sb.ChunkBytes != metadata.ChunkBytes || sb.Layout != metadata.Layout
                || sb.MemberDataBytes != metadata.MemberDataBytes || sb.DataOffsetBytes != metadata.DataOffsetBytes)
                return $"member {name} records a geometry that differs from the array's metadata";
            if (sb.Events < metadata.Events)
                return $"member {name} is stale: its event count {sb.Events} is older than the array's {metadata.Events}";
            if (sb.Events > metadata.Events)
                return $"member {name} has event count {sb.Events}, newer than the array's metadata ({metadata.Events}): the journal is older than the members";
            if (member.Store.LengthBytes < sb.RequiredLengthBytes)
                return $"member {name} is {member.Store.LengthBytes} bytes but the array needs {sb.RequiredLengthBytes} bytes on every member";
        }
        return null;
    }
}
