using System.Text.RegularExpressions;
using Raid5Actors.Geometry;
using Raid5Actors.Md;
using Xunit.Abstractions;

namespace Raid5Actors.Tests.Md;

/// <summary>
/// Real mdadm reads the images our builder writes and prints what our examine report prints: the
/// builder's superblock writer and checksum agree with md's own tools, and so does our reader.
/// </summary>
public class MdadmExamineSpec(ITestOutputHelper output)
{
    // 8 MiB per member, so mdadm's human-readable sizes show up on every size line; the variants
    // make do with 2 MiB (their array sizes still show them).
    private const long kDeviceSectors = 16384 + 5;
    private const long kSmallDeviceSectors = 4096 + 5;

    [Fact]
    public async Task Mdadm_examine_agrees_with_our_report_on_every_member_of_a_clean_array()
    {
        var builder = new MdImageBuilder(4, Raid5Layout.LeftSymmetric, 64 * 1024, kDeviceSectors) { Events = 4242 };
        using var images = new MdImageSet(builder, seed: 1);

        for (var device = 0; device < 4; device++)
        {
            var mdadm = await Mdadm.ExamineAsync(output, images.Paths[device]);
            var ours = MdExamineReport.Examine(images.Paths[device]);

            Assert.Equal(ours.ArrayUuid, Value(mdadm, "Array UUID"));
            Assert.Equal("4242", Value(mdadm, "Events"));
            Assert.Equal("left-symmetric", Value(mdadm, "Layout"));
            Assert.Equal("64K", Value(mdadm, "Chunk Size"));
            Assert.Equal($"Active device {device}", Value(mdadm, "Device Role"));
            Assert.Equal("raid5", Value(mdadm, "Raid Level"));
            Assert.Equal("2048 sectors", Value(mdadm, "Data Offset"));
            Assert.Equal($"{ours.Checksum} - correct", Value(mdadm, "Checksum"));
            AssertSameLines(mdadm, ours);
        }
    }

    public static TheoryData<string> Variants() =>
        new() { "v1.0", "v1.1", "dirty-degraded-view", "spare-and-slack", "other-layouts", "flags-and-bad-block-log", "reshape", "recovering" };

    [Theory]
    [MemberData(nameof(Variants))]
    public async Task Mdadm_examine_agrees_with_our_report_on_other_shapes_and_states(string variant)
    {
        var builder = new MdImageBuilder(5, Raid5Layout.RightAsymmetric, 16 * 1024, kSmallDeviceSectors) { Name = "otherhost:data" };
        switch (variant)
        {
            case "v1.0":
                builder.MinorVersion = 0;
                break;
            case "v1.1":
                builder.MinorVersion = 1;
                builder.DataOffsetSectors = 264;
                break;
            case "dirty-degraded-view":
                builder.Clean = false;
                builder.ResyncOffsetSectors = 4096;
                builder.DevRoles = [0, 1, MdImageBuilder.kRoleFaulty, 3, 4];
                builder.Devices[2] = builder.Devices[2] with { Events = 7, DevRoles = [0, 1, 2, 3, 4], ResyncOffsetSectors = MdImageBuilder.kMaxSector };
                break;
            case "spare-and-slack":
                builder.DevRoles = [0, 1, 2, 3, 4, MdImageBuilder.kRoleSpare];
                builder.Devices.Add(new MdDeviceSpec { DevNumber = 5 });
                builder.Devices[1] = builder.Devices[1] with { ExtraDataSectors = 2048 };
                builder.MaxDev = 9;
                break;
            case "flags-and-bad-block-log":
                builder.BadBlockLogOffsetSectors = 8;
                builder.BadBlockLogSectors = 8;
                builder.Devices[0] = builder.Devices[0] with { DevFlags = 1 };
                builder.Devices[1] = builder.Devices[1] with { DevFlags = 3, ExtraFeatures = MdImageBuilder.kFeatureBadBlocks };
                break;
            case "reshape":
                builder.FeatureMap = MdImageBuilder.kFeatureReshapeActive;
                builder.ReshapePositionSectors = 12_288;
                builder.DeltaDisks = 1;
                builder.NewLayoutNumber = (int)Raid5Layout.LeftSymmetric;
                builder.NewChunkSectors = 128;
                builder.NewLevel = 6;
                break;
            case "recovering":
                builder.Devices[4] = builder.Devices[4] with { ExtraFeatures = MdImageBuilder.kFeatureRecoveryOffset, RecoveryOffsetSectors = 1024 };
                break;
            case "other-layouts":
                builder.LayoutNumber = (int)Raid5Layout.ParityLast;
                builder.Level = 4;
                break;
        }

        using var images = new MdImageSet(builder, seed: 2);

        for (var device = 0; device < images.Paths.Count; device++)
            AssertSameLines(await Mdadm.ExamineAsync(output, images.Paths[device]), MdExamineReport.Examine(images.Paths[device]));
    }

    private static string Value(IReadOnlyList<(string Key, string Value)> lines, string key)
    {
        var found = lines.Where(l => l.Key == key).ToArray();
        Assert.True(found.Length == 1, $"mdadm printed {found.Length} '{key}' lines");
        return found[0].Value;
    }

    // Every line, in order: ours are mdadm's (times in UTC on both sides). The "(8.00 MiB 8.39 MB)"
    // sizes are left out: mdadm 4.2 truncates them where upstream mdadm, and our report, round.
    private void AssertSameLines(IReadOnlyList<(string Key, string Value)> mdadm, MdExamineReport ours)
    {
        var oursLines = ours.Lines().Where(l => l.Key.Length > 0).Select(l => (l.Key, l.Value)).ToArray();
        output.WriteLine(ours.ToText());
        Assert.Equal(mdadm.Select(Normalise), oursLines.Select(Normalise));
    }

    private static string Normalise((string Key, string Value) line) =>
        $"{line.Key} : {Regex.Replace(line.Value, @" \(\d+\.\d+ [MG]iB \d+\.\d+ [MG]B\)$", "")}";
}
