using System.Globalization;
using System.Text;
using Raid5Actors.Geometry;

namespace Raid5Actors.Md;

/// <summary>
/// Decides, from the members' superblocks alone, which images form the array: mdadm's Assemble.c
/// (load_devices, then the uptodate pass, then force_array and start_array's gates), with the
/// kernel's event margin. Pure: no I/O, so every rule is testable on superblocks.
/// </summary>
/// <remarks>
/// Order of the gates, each one refusing before anything is used:
/// 1. one array: every image carries the set UUID of the freshest active member, and the same shape;
/// 2. readable: each superblock is valid and the array is RAID5 in the engine's limits;
/// 3. per image: spare, faulty, rebuilding or unusable images are left out;
/// 4. per role: the freshest claimant wins; it is current when its events are within 1 of the array's
///    (md allows that much, since the last superblock write may not have reached every member);
/// 5. at most one role missing (Force first pulls in the freshest stale members);
/// 6. a missing role in a dirty array needs Force: its rebuild would trust parity that may be stale.
/// </remarks>
internal static class MdAssembler
{
    /// <summary>md and mdadm accept a member one event behind the freshest.</summary>
    public const ulong kEventMargin = 1;

    public sealed record Plan(MdAssemblyReport Report, ArrayGeometry Geometry, MdSuperblock Freshest, IReadOnlyList<MdSuperblock?> ByRole);

    public static Plan Decide(IReadOnlyList<MdSuperblock> images, MdAssemblyOptions options)
    {
        if (images.Count == 0)
            throw new MdAssemblyException("cannot assemble: no member images given");
        foreach (var image in images)
        {
            if (image.FindFormatProblem() is { } problem)
                throw new MdFormatException(image.ImagePath, problem);
        }

        var freshest = FindFreshest(images);
        EnsureOneArray(images, freshest);

        var states = images.Select(image => Classify(image, freshest)).ToArray();
        var best = ChooseClaimants(images, states, freshest.RaidDisks);
        MarkCurrent(images, states, best, freshest, options);
        var pulledIn = options.Force && PullInStale(images, states, best, freshest);
        var byRole = UsedByRole(images, states, freshest.RaidDisks);
        var members = images.Select((image, i) => new MdMemberReport(image.ImagePath, image.DevNumber, image.Role, image.Events, states[i].State, states[i].Detail)).ToArray();

        var (clean, dirtyDegraded, warnings) = GateStart(byRole, members, freshest, options);
        var forced = pulledIn || dirtyDegraded || states.Any(s => s.ForcedPastSplit);
        return BuildPlan(freshest, byRole, members, clean, forced, warnings);
    }

    // Steps 5 and 6: enough members, and a dirty array whole or forced. Returns whether it is clean,
    // whether it starts dirty and degraded (Force), and what the caller should be warned of.
    private static (bool Clean, bool DirtyDegraded, List<string> Warnings) GateStart(
        MdSuperblock?[] byRole, MdMemberReport[] members, MdSuperblock freshest, MdAssemblyOptions options)
    {
        var missing = MissingRoles(byRole);
        if (missing.Length > 1)
        {
            throw new MdAssemblyException(
                $"cannot assemble: {missing.Length} of {freshest.RaidDisks} members missing (roles {string.Join(", ", missing)}); " +
                $"RAID5 survives the loss of one.{Describe(members)}");
        }

        var warnings = new List<string>();
        var dirty = byRole.FirstOrDefault(member => member is { IsClean: false });
        var dirtyDegraded = missing.Length == 1 && dirty is not null;
        if (dirtyDegraded && !options.Force)
        {
            throw new MdAssemblyException(
                $"cannot start dirty degraded array: role {missing[0]} is missing and {dirty!.ImagePath} says the array was not " +
                $"stopped cleanly (resync from sector {dirty.ResyncOffsetSectors} pending), so the parity that would rebuild " +
                $"role {missing[0]} may be stale; use Force (mdadm --force) to read it anyway.{Describe(members)}");
        }

        if (dirtyDegraded)
            warnings.Add($"dirty degraded array started with Force: bytes rebuilt for role {missing[0]} may be wrong where writes were in flight when it stopped");
        else if (dirty is not null)
            warnings.Add("the array was not stopped cleanly: parity may be stale where writes were in flight; data is read from the data members and is unaffected");
        foreach (var member in members.Where(m => m.State == MdMemberState.Forced))
            warnings.Add($"{member.ImagePath} was forced in with events {member.Events} < {freshest.Events}: its data may be out of date");
        return (dirty is null, dirtyDegraded, warnings);
    }

    private static Plan BuildPlan(MdSuperblock freshest, MdSuperblock?[] byRole, MdMemberReport[] members, bool clean, bool forced, List<string> warnings)
    {
        var geometry = ArrayGeometry.Create(freshest.RaidDisks, (int)freshest.ChunkBytes, freshest.KnownLayout!.Value, (long)freshest.SizeSectors * MdFormat.kSectorBytes);
        var report = new MdAssemblyReport
        {
            ArrayUuid = freshest.SetUuid,
            Name = freshest.SetName,
            RaidDisks = freshest.RaidDisks,
            Layout = geometry.Layout,
            ChunkBytes = geometry.ChunkBytes,
            MemberDataBytes = geometry.MemberDataBytes,
            CapacityBytes = geometry.CapacityBytes,
            Events = freshest.Events,
            FreshestImage = freshest.ImagePath,
            Members = members,
            MissingRoles = MissingRoles(byRole),
            Clean = clean,
            Forced = forced,
            Warnings = warnings,
        };
        return new Plan(report, geometry, freshest, byRole);
    }

    private static int[] MissingRoles(MdSuperblock?[] byRole) => Enumerable.Range(0, byRole.Length).Where(role => byRole[role] is null).ToArray();

    private sealed class MemberState(MdMemberState state, string detail)
    {
        public MdMemberState State { get; set; } = state;

        public string Detail { get; set; } = detail;

        /// <summary>Still in the running for its role after step 3.</summary>
        public bool Claims { get; set; }

        public bool ForcedPastSplit { get; set; }
    }

    // mdadm's most_recent: the highest event count among devices that hold a role; the first on a tie.
    private static MdSuperblock FindFreshest(IReadOnlyList<MdSuperblock> images)
    {
        MdSuperblock? freshest = null;
        foreach (var image in images)
        {
            if (image.RoleKind == MdRoleKind.Active && (freshest is null || image.Events > freshest.Events))
                freshest = image;
        }

        return freshest ?? throw new MdAssemblyException(
            $"cannot assemble: none of the {images.Count} images holds a role in an array " +
            $"({string.Join(", ", images.Select(i => $"{i.ImagePath}: {i.RoleKind.ToString().ToLowerInvariant()}"))})");
    }

    private static void EnsureOneArray(IReadOnlyList<MdSuperblock> images, MdSuperblock freshest)
    {
        foreach (var image in images.Where(i => i.SetUuid != freshest.SetUuid))
        {
            throw new MdAssemblyException(
                $"{image.ImagePath} belongs to array {image.SetUuid}, not to array {freshest.SetUuid} of the freshest member " +
                $"{freshest.ImagePath} (events {freshest.Events}); members of different arrays cannot be assembled together");
        }

        freshest.EnsureReadable();
        foreach (var image in images)
        {
            // md's "strangely different superblock": same UUID, different shape.
            if (image.Level != freshest.Level || image.Layout != freshest.Layout || image.ChunkSectors != freshest.ChunkSectors
                || image.RaidDisks != freshest.RaidDisks)
            {
                throw new MdAssemblyException(
                    $"{image.ImagePath} has the array UUID of {freshest.ImagePath} but a different shape " +
                    $"(level {image.Level}, layout {image.Layout}, chunk {image.ChunkSectors} sectors, {image.RaidDisks} devices; " +
                    $"the freshest says level {freshest.Level}, layout {freshest.Layout}, chunk {freshest.ChunkSectors} sectors, " +
                    $"{freshest.RaidDisks} devices)");
            }

            image.EnsureReadable();
        }
    }

    // Step 3: what an image can be on its own superblock's word.
    private static MemberState Classify(MdSuperblock image, MdSuperblock freshest)
    {
        var role = image.RoleValue;
        switch (image.RoleKind)
        {
            case MdRoleKind.Spare:
                return new(MdMemberState.Spare, "spare: holds no role");
            case MdRoleKind.Faulty:
                return new(MdMemberState.Faulty, "its superblock marks it faulty");
        }

        if (role >= freshest.RaidDisks)
            return new(MdMemberState.Rejected, $"claims role {role}, beyond the array's {freshest.RaidDisks} devices");
        if (image.FeatureMap.HasFlag(MdFeatures.Replacement))
            return new(MdMemberState.Rebuilding, $"replacement for role {role}, not yet in sync");
        if (image.FeatureMap.HasFlag(MdFeatures.RecoveryOffset))
            return new(MdMemberState.Rebuilding, $"was being rebuilt: in sync only up to sector {image.RecoveryOffsetSectors} of {freshest.SizeSectors}");
        if (image.FeatureMap.HasFlag(MdFeatures.BadBlocks))
            return new(MdMemberState.Rejected, "has a bad block list, which this reader does not apply");
        if (image.DataSizeSectors < freshest.SizeSectors)
            return new(MdMemberState.Rejected, $"its data area of {image.DataSizeSectors} sectors is smaller than the array's {freshest.SizeSectors} sectors per member");
        return new(MdMemberState.Active, $"role {role}") { Claims = true };
    }

    // Step 4a (mdadm's best[]): per role the freshest claimant; on a tie the one listed first.
    private static int[] ChooseClaimants(IReadOnlyList<MdSuperblock> images, MemberState[] states, int raidDisks)
    {
        var best = Enumerable.Repeat(-1, raidDisks).ToArray();
        for (var i = 0; i < images.Count; i++)
        {
            if (!states[i].Claims)
                continue;
            var role = images[i].RoleValue;
            var current = best[role];
            if (current < 0 || images[i].Events > images[current].Events)
            {
                if (current >= 0)
                    Supersede(states[current], images[current], images[i]);
                best[role] = i;
            }
            else
            {
                Supersede(states[i], images[i], images[current]);
            }
        }

        return best;
    }

    private static void Supersede(MemberState loser, MdSuperblock loserImage, MdSuperblock winner)
    {
        loser.Claims = false;
        loser.State = MdMemberState.Superseded;
        loser.Detail = winner.Events > loserImage.Events
            ? $"role {loserImage.RoleValue} is taken by fresher {winner.ImagePath} (events {winner.Events} > {loserImage.Events})"
            : $"role {loserImage.RoleValue} is taken by {winner.ImagePath}, as fresh (events {winner.Events}) and listed first";
    }

    // Step 4b: the claimant is current when within the margin, and (without Force) when it does not
    // report the freshest member as failed: that would mean the two lived on separately (split brain).
    private static void MarkCurrent(IReadOnlyList<MdSuperblock> images, MemberState[] states, int[] best, MdSuperblock freshest, MdAssemblyOptions options)
    {
        foreach (var i in best.Where(i => i >= 0))
        {
            var image = images[i];
            if (image.Events + kEventMargin < freshest.Events)
            {
                states[i].State = MdMemberState.Stale;
                states[i].Detail = $"stale: events {image.Events}, the array is at {freshest.Events} (md allows 1 behind)";
                continue;
            }

            var freshestRole = freshest.RoleValue;
            if (!ReferenceEquals(image, freshest) && !image.DevRoles.Contains(freshestRole))
            {
                var detail = $"it reports {freshest.ImagePath} (role {freshestRole}) as failed";
                if (!options.Force)
                {
                    states[i].State = MdMemberState.Rejected;
                    states[i].Detail = $"{detail}; mdadm ignores such a member without --force";
                    continue;
                }

                states[i].ForcedPastSplit = true;
                states[i].Detail = $"role {image.RoleValue}, taken with Force although {detail}";
            }
        }
    }

    // mdadm's force_array: while more than one role is missing, take the freshest stale claimant, and
    // every other of the same event count with it.
    private static bool PullInStale(IReadOnlyList<MdSuperblock> images, MemberState[] states, int[] best, MdSuperblock freshest)
    {
        var pulled = false;
        while (best.Count(i => i < 0 || !IsUsed(states[i])) > 1)
        {
            var stale = best.Where(i => i >= 0 && states[i].State == MdMemberState.Stale).ToArray();
            if (stale.Length == 0)
                break;
            var vintage = stale.Max(i => images[i].Events);
            foreach (var i in stale.Where(i => images[i].Events == vintage))
            {
                states[i].State = MdMemberState.Forced;
                states[i].Detail = $"stale (events {images[i].Events} < {freshest.Events}) but forced in: more than one role was missing";
            }

            pulled = true;
        }

        return pulled;
    }

    private static MdSuperblock?[] UsedByRole(IReadOnlyList<MdSuperblock> images, MemberState[] states, int raidDisks)
    {
        var byRole = new MdSuperblock?[raidDisks];
        for (var i = 0; i < images.Count; i++)
        {
            if (IsUsed(states[i]))
                byRole[images[i].RoleValue] = images[i];
        }

        return byRole;
    }

    private static bool IsUsed(MemberState state) => state.State is MdMemberState.Active or MdMemberState.Forced;

    private static string Describe(IEnumerable<MdMemberReport> members)
    {
        var text = new StringBuilder();
        foreach (var member in members)
            text.Append(CultureInfo.InvariantCulture, $" {member.ImagePath}: {(member.IsUsed ? "used" : "left out")}, {member.Detail}.");
        return text.ToString();
    }
}
