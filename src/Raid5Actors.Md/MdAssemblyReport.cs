using System.Globalization;
using System.Text;
using System.Text.Json;
using Raid5Actors.Geometry;

namespace Raid5Actors.Md;

/// <summary>How to assemble an md array from its images.</summary>
public sealed record MdAssemblyOptions
{
    public static readonly MdAssemblyOptions Default = new();

    /// <summary>
    /// mdadm's --force: start an array that is dirty and degraded at once (md's "cannot start dirty
    /// degraded array"), take members that report the freshest one as failed, and, when more than one
    /// role would be missing, pull in the freshest stale members until only one is.
    /// </summary>
    public bool Force { get; init; }
}

/// <summary>What assembly did with one image.</summary>
public enum MdMemberState
{
    /// <summary>Serves its role.</summary>
    Active,

    /// <summary>Stale, but pulled in by <see cref="MdAssemblyOptions.Force"/> because too many roles were missing.</summary>
    Forced,

    /// <summary>Left out: its event count is older than the array's by more than md's margin of 1.</summary>
    Stale,

    /// <summary>Left out: holds no role.</summary>
    Spare,

    /// <summary>Left out: its own superblock marks it faulty.</summary>
    Faulty,

    /// <summary>Left out: another image claims the same role and is fresher (or as fresh and listed first).</summary>
    Superseded,

    /// <summary>Left out: was being rebuilt (recovery offset) or is a replacement not yet in sync.</summary>
    Rebuilding,

    /// <summary>Left out for another reason stated in <see cref="MdMemberReport.Detail"/>.</summary>
    Rejected,
}

/// <summary>One image given to assembly: its identity, and whether and why it is used.</summary>
public sealed record MdMemberReport(string ImagePath, uint DevNumber, int? Role, ulong Events, MdMemberState State, string Detail)
{
    public bool IsUsed => State is MdMemberState.Active or MdMemberState.Forced;
}

/// <summary>The outcome of assembling an md RAID5 array from images: which serve which role, which were left out and why.</summary>
public sealed record MdAssemblyReport
{
    public required MdUuid ArrayUuid { get; init; }

    public required string Name { get; init; }

    public required int RaidDisks { get; init; }

    public required Raid5Layout Layout { get; init; }

    public required int ChunkBytes { get; init; }

    /// <summary>Bytes of each member's data area the array uses: md's size, in whole chunks.</summary>
    public required long MemberDataBytes { get; init; }

    public required long CapacityBytes { get; init; }

    /// <summary>The event count of the freshest member, which the others are measured against.</summary>
    public required ulong Events { get; init; }

    public required string FreshestImage { get; init; }

    /// <summary>Every image given, in the order given.</summary>
    public required IReadOnlyList<MdMemberReport> Members { get; init; }

    /// <summary>Roles no used image serves (at most one: the array is then degraded and that role is rebuilt by XOR).</summary>
    public required IReadOnlyList<int> MissingRoles { get; init; }

    /// <summary>Every used member says the array was stopped cleanly (resync_offset is MaxSector).</summary>
    public required bool Clean { get; init; }

    /// <summary>Force changed the outcome (a dirty degraded start, a stale or split member taken).</summary>
    public required bool Forced { get; init; }

    public required IReadOnlyList<string> Warnings { get; init; }

    public bool Degraded => MissingRoles.Count > 0;

    /// <summary>mdadm's name for <see cref="Layout"/>, "left-symmetric" and so on.</summary>
    public string LayoutName => Raid5LayoutNames.ToName(Layout);

    /// <summary>The image serving each role (null for the missing one).</summary>
    public IReadOnlyList<MdMemberReport?> ByRole()
    {
        var byRole = new MdMemberReport?[RaidDisks];
        foreach (var member in Members.Where(m => m.IsUsed))
            byRole[member.Role!.Value] = member;
        return byRole;
    }

    /// <summary>camelCase JSON, property names stable; the UUID as mdadm prints it.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, MdJson.Options);

    public string ToText()
    {
        var text = new StringBuilder();
        var state = (Degraded ? "degraded" : "complete") + (Clean ? ", clean" : ", dirty") + (Forced ? ", forced" : "");
        text.Append(CultureInfo.InvariantCulture, $"md array {ArrayUuid} '{Name}': raid5 {LayoutName}, ")
            .Append(CultureInfo.InvariantCulture, $"{RaidDisks} devices, chunk {ChunkBytes / 1024} KiB, {CapacityBytes} bytes, events {Events} ({state})\n");
        var byRole = ByRole();
        for (var role = 0; role < RaidDisks; role++)
        {
            var member = byRole[role];
            text.Append(CultureInfo.InvariantCulture, $"  role {role}: ")
                .Append(member is null ? "missing (rebuilt from the others by XOR)" : $"{member.ImagePath} (events {member.Events}){Suffix(member)}")
                .Append('\n');
        }

        foreach (var member in Members.Where(m => !m.IsUsed))
            text.Append(CultureInfo.InvariantCulture, $"  left out: {member.ImagePath}: {member.Detail}\n");
        foreach (var warning in Warnings)
            text.Append(CultureInfo.InvariantCulture, $"  warning: {warning}\n");
        return text.ToString();
    }

    private static string Suffix(MdMemberReport member) => member.State == MdMemberState.Forced ? $", forced: {member.Detail}" : "";
}
