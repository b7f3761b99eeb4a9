using System.CommandLine;
using System.Globalization;
using Raid5Actors.Disks;
using Raid5Actors.Geometry;
using Raid5Actors.Md;

namespace Raid5Actors.Cli.Commands;

/// <summary>
/// <c>examine IMAGE</c>: print one member's superblock (like mdadm --examine), for the engine's own
/// members and for Linux md v1.2 members.
/// </summary>
internal static class ExamineCommand
{
    public static Command Build()
    {
        var image = new Argument<string>("IMAGE") { Description = "A member file: one of this engine's member-NN.img, or a Linux md (v1.2 superblock) member image" };
        var command = new Command("examine", "Show a member's superblock: array UUID, level, layout, chunk, data offset, role, event count (like mdadm --examine)")
        {
            image, CommonOptions.Json, CommonOptions.Verbose,
        };
        command.SetRunner(async session =>
        {
            var path = session.Parse.GetValue(image)!;
            if (Directory.Exists(path))
                throw new CliUsageException($"{path} is a folder; examine takes one member file (e.g. {Path.Combine(path, "member-00.img")})");
            if (!File.Exists(path))
                throw new CliUsageException($"{path}: no such file");
            var json = session.Parse.GetValue(CommonOptions.Json);
            // md's superblock first: an md member may hold anything at byte 0 (v1.2 leaves 4 KiB there).
            if (MdSuperblock.Probe(path) is { } md)
            {
                var mdReport = MdExamineReport.From(md);
                await session.Out.WriteAsync(json ? mdReport.ToJson() + "\n" : mdReport.ToText()).ConfigureAwait(false);
                return ExitCodes.kOk;
            }
            var ours = ReadOwn(path)
                ?? throw new Raid5Exception($"{path}: neither a Raid5Actors superblock (magic R5ACTORS at byte 0) nor an md v1.x superblock (magic a92b4efc at byte 4096, 0 or the end)");
            var report = new OwnSuperblockReport(
                Path.GetFullPath(path), "raid5actors", 1, ours.ArrayId, "raid5", ours.MemberCount, Raid5LayoutNames.ToName(ours.Layout),
                ours.ChunkBytes, ours.DataOffsetBytes, ours.MemberDataBytes, ours.Role, ours.Events);
            if (json)
                session.WriteJson(report);
            else
                await session.Out.WriteAsync(report.ToText()).ConfigureAwait(false);
            return ExitCodes.kOk;
        });
        return command;
    }

    private static MemberSuperblock? ReadOwn(string path)
    {
        using var file = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        var block = new byte[MemberSuperblock.kSuperblockBytes];
        var read = RandomAccess.Read(file, block, 0);
        return read < block.Length ? null : MemberSuperblock.TryRead(block, path);
    }
}

/// <summary>What examine shows of one of the engine's own members.</summary>
/// <param name="Role">Role in the array, or -1 for a spare.</param>
internal sealed record OwnSuperblockReport(
    string Image, string Format, int Version, Guid ArrayId, string Level, int RaidDevices, string Layout,
    int ChunkBytes, long DataOffsetBytes, long UsedDevBytes, int Role, long Events)
{
    public string ToText()
    {
        var lines = new (string Key, string Value)[]
        {
            ("Magic", "R5ACTORS"),
            ("Version", $"{Format} {Version}"),
            ("Array UUID", ArrayId.ToString()),
            ("Raid Level", Level),
            ("Raid Devices", RaidDevices.ToString(CultureInfo.InvariantCulture)),
            ("Used Dev Size", $"{UsedDevBytes} bytes ({Sizes.Format(UsedDevBytes)})"),
            ("Data Offset", $"{DataOffsetBytes} bytes"),
            ("Layout", Layout),
            ("Chunk Size", Sizes.FormatChunk(ChunkBytes)),
            ("Device Role", Role >= 0 ? $"Active device {Role}" : "spare"),
            ("Events", Events.ToString(CultureInfo.InvariantCulture)),
        };
        return $"{Image}:\n" + string.Concat(lines.Select(l => $"{l.Key,18} : {l.Value}\n"));
    }
}
