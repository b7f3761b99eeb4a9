using Raid5Actors.Disks;

namespace Raid5Actors.Arrays;

/// <summary>
/// Assembling an array from its metadata and the devices found (md's assemble): every in-sync role
/// needs its device, holding this array's superblock for that role with a current event count.
/// </summary>
public static class MemberValidation
{
    /// <summary>The metadata to run with (roles that could not be assembled marked faulty), or the error that refuses the open.</summary>
    public sealed record Outcome(ArrayMetadata Metadata, Exception? Error, IReadOnlyList<string> Notes);

    public static Outcome Assemble(
        ArrayMetadata metadata, IReadOnlyDictionary<int, OpenedMember> devices, Func<int, string> describe, bool allowDegraded, bool force)
    {
        var notes = new List<string>();
        var result = metadata;
        var failed = new List<int>();
        foreach (var slot in metadata.Slots)
        {
            var problem = slot.State switch
            {
                MemberState.InSync => CheckInSync(metadata, slot, devices, describe),
                MemberState.Rebuilding => CheckRebuilding(metadata, slot, devices, describe),
                _ => null,
            };
            if (problem is null)
                continue;
            if (slot.State == MemberState.InSync && !allowDegraded)
            {
                var message = problem + " (open with AllowDegraded to run without it)";
                var missing = slot.Device < 0 || !devices.ContainsKey(slot.Device);
                Exception refusal = missing
                    ? new Raid5MemberException(message, overrideWith: Raid5OpenOverride.AllowDegraded)
                    : new Raid5OpenException(message, overrideWith: Raid5OpenOverride.AllowDegraded);
                return new Outcome(metadata, refusal, notes);
            }
            notes.Add($"role {slot.Role} is left out: {problem}");
            failed.Add(slot.Role);
        }
        var spares = metadata.Spares.Where(device =>
        {
            var ok = devices.TryGetValue(device, out var d) && d.Superblock is { Role: -1 } sb && sb.ArrayId == metadata.ArrayId;
            if (!ok)
                notes.Add($"spare {describe(device)} is missing or no longer a spare of this array; dropped");
            return ok;
        }).ToArray();
        if (failed.Count > 0)
        {
            foreach (var role in failed)
                result = result.WithSlot(result.Slots[role] with { State = MemberState.Faulty, RebuiltRows = 0 });
            result = result.Bumped();
        }
        if (spares.Length != metadata.Spares.Count)
            result = result with { Spares = spares };
        if (result.Failed && force)
            result = TakeBackFaulty(result, devices, notes);
        if (result.Failed && !force)
        {
            var missing = string.Join(" and ", result.Slots.Where(s => s.State != MemberState.InSync).Select(s => s.Role));
            return new Outcome(metadata, new Raid5OpenException(
                $"the array cannot run: members {missing} are missing, more than RAID5 survives. {string.Join("; ", notes)}",
                overrideWith: Raid5OpenOverride.Force), notes);
        }
        return new Outcome(result, null, notes);
    }

    /// <summary>
    /// md's assemble --force: when too many roles are faulty to run, take back the faulty members
    /// that still carry this array's superblock for their role, freshest event count first, until
    /// at most one role is missing. Their data may miss the last writes, so the array is marked dirty.
    /// </summary>
    private static ArrayMetadata TakeBackFaulty(ArrayMetadata metadata, IReadOnlyDictionary<int, OpenedMember> devices, List<string> notes)
    {
        var candidates = metadata.Slots
            .Where(s => s.State == MemberState.Faulty && s.Device >= 0 && devices.ContainsKey(s.Device))
            .Select(s => (Slot: s, Superblock: devices[s.Device].Superblock, Store: devices[s.Device].Store))
            .Where(c => c.Superblock is { } sb && sb.ArrayId == metadata.ArrayId && sb.Role == c.Slot.Role && c.Store.LengthBytes >= sb.RequiredLengthBytes)
            .OrderByDescending(c => c.Superblock!.Events)
            .ToList();
        var result = metadata;
        foreach (var (slot, superblock, store) in candidates)
        {
            if (result.MissingCount <= 1)
                break;
            result = result.WithSlot(slot with { State = MemberState.InSync, RebuiltRows = 0, FromBitmap = false });
            notes.Add($"forced: faulty member {store.Name} (role {slot.Role}, events {superblock!.Events}) taken back in sync");
        }
        return ReferenceEquals(result, metadata) ? metadata : result.Bumped() with { Clean = false };
    }

    private static string? CheckInSync(ArrayMetadata metadata, SlotRecord slot, IReadOnlyDictionary<int, OpenedMember> devices, Func<int, string> describe)
    {
        if (slot.Device < 0 || !devices.TryGetValue(slot.Device, out var member))
            return $"member {describe(slot.Device)} is missing (the array has {metadata.MemberCount} members)";
        var name = member.Store.Name;
        var sb = member.Superblock;
        if (sb is null)
            return $"member {name} has no Raid5Actors superblock: it is blank or not a member of any array";
        if (sb.ArrayId != metadata.ArrayId)
            return $"member {name} belongs to array {sb.ArrayId}, not to this array {metadata.ArrayId}";
        if (sb.Role != slot.Role)
            return $"member {name} holds role {sb.Role} but was found in the slot of role {slot.Role}";
        if (sb.MemberCount != metadata.MemberCount || sb.ChunkBytes != metadata.ChunkBytes || sb.Layout != metadata.Layout
            || sb.MemberDataBytes != metadata.MemberDataBytes || sb.DataOffsetBytes != metadata.DataOffsetBytes)
            return $"member {name} records a geometry that differs from the array's metadata";
        if (sb.Events < metadata.MinSuperblockEvents)
            return $"member {name} is stale: its event count {sb.Events} is older than the array's {metadata.Events}";
        if (sb.Events > metadata.Events)
            return $"member {name} has event count {sb.Events}, newer than the array's metadata ({metadata.Events}): the journal is older than the members";
        if (member.Store.LengthBytes < sb.RequiredLengthBytes)
            return $"member {name} is {member.Store.LengthBytes} bytes but the array needs {sb.RequiredLengthBytes} bytes on every member";
        return null;
    }

    private static string? CheckRebuilding(ArrayMetadata metadata, SlotRecord slot, IReadOnlyDictionary<int, OpenedMember> devices, Func<int, string> describe)
    {
        if (!devices.TryGetValue(slot.Device, out var member))
            return $"member {describe(slot.Device)}, being rebuilt, is missing";
        return member.Superblock is { } sb && sb.ArrayId == metadata.ArrayId && sb.Role == slot.Role
            ? null
            : $"member {member.Store.Name}, being rebuilt, no longer carries this array's superblock";
    }
}
