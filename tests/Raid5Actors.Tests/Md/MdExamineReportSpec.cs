using System.Buffers.Binary;
using System.Text.Json;
using Raid5Actors.Geometry;
using Raid5Actors.Md;
using Raid5Actors.Tests.Arrays;

namespace Raid5Actors.Tests.Md;

/// <summary>
/// The examine report shows what the builder put in the superblock, in mdadm's words and layout,
/// and as JSON with stable camelCase names.
/// </summary>
public class MdExamineReportSpec
{
    public static TheoryData<Raid5Layout, string> LayoutNames() => new()
    {
        { Raid5Layout.LeftAsymmetric, "left-asymmetric" },
        { Raid5Layout.RightAsymmetric, "right-asymmetric" },
        { Raid5Layout.LeftSymmetric, "left-symmetric" },
        { Raid5Layout.RightSymmetric, "right-symmetric" },
        { Raid5Layout.ParityFirst, "parity-first" },
        { Raid5Layout.ParityLast, "parity-last" },
    };

    [Theory]
    [MemberData(nameof(LayoutNames))]
    public void Shows_the_fields_that_were_built(Raid5Layout layout, string layoutName)
    {
        var builder = new MdImageBuilder(4, layout, 128 * 1024, 2000) { Events = 31, Name = "nas:vol1" };
        using var images = new MdImageSet(builder, seed: 20);
        var checksum = BinaryPrimitives.ReadUInt32LittleEndian(builder.BuildSuperblock(2).AsSpan(216));

        var report = MdExamineReport.Examine(images.Paths[2]);

        Assert.Equal(images.Paths[2], report.Image);
        Assert.Equal("a92b4efc", report.Magic);
        Assert.Equal("1.2", report.Version);
        Assert.Equal("0x0", report.FeatureMap);
        Assert.Equal(Hex(builder.SetUuid), report.ArrayUuid);
        Assert.Equal("nas:vol1", report.Name);
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(builder.CreationUnixSeconds), report.CreationTime);
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(builder.UpdateUnixSeconds), report.UpdateTime);
        Assert.Equal("raid5", report.RaidLevel);
        Assert.Equal(4, report.RaidDevices);
        Assert.Equal(2000ul, report.AvailDevSizeSectors);
        Assert.Equal(2000ul * 512 * 3 / 1024, report.ArraySizeKib);
        Assert.Equal(2000ul, report.UsedDevSizeSectors);
        Assert.Equal(2048ul, report.DataOffsetSectors);
        Assert.Equal(8ul, report.SuperOffsetSectors);
        Assert.Equal("clean", report.State);
        Assert.Equal(Hex(builder.BuildSuperblock(2).AsSpan(168, 16).ToArray()), report.DeviceUuid);
        Assert.Equal(checksum.ToString("x"), report.Checksum);
        Assert.True(report.ChecksumCorrect);
        Assert.Equal(31ul, report.Events);
        Assert.Equal(layoutName, report.Layout);
        Assert.Equal((int)layout, report.LayoutNumber);
        Assert.Equal(128ul, report.ChunkSizeKib);
        Assert.Equal("Active device 2", report.DeviceRole);
        Assert.Equal(2, report.Role);
        Assert.Equal("AAAA", report.ArrayState);
        Assert.Null(report.ReadProblem);
    }

    [Fact]
    public void Renders_mdadm_lines_key_for_key()
    {
        var builder = new MdImageBuilder(3, Raid5Layout.LeftSymmetric, 512 * 1024, 12_000) { Events = 18, Clean = false };
        builder.DevRoles = [0, MdImageBuilder.kRoleFaulty, 2];
        using var images = new MdImageSet(builder, seed: 21);
        var checksum = BinaryPrimitives.ReadUInt32LittleEndian(builder.BuildSuperblock(0).AsSpan(216));

        var text = MdExamineReport.Examine(images.Paths[0]).ToText();

        Assert.Equal(
            "          Magic : a92b4efc\n" +
            "        Version : 1.2\n" +
            "    Feature Map : 0x0\n" +
            "     Array UUID : 3e5a1102:c47d901b:620faa55:1788d24c\n" +
            "           Name : builder:md0\n" +
            "  Creation Time : Tue Nov 14 22:13:20 2023\n" +
            "     Raid Level : raid5\n" +
            "   Raid Devices : 3\n" +
            "\n" +
            " Avail Dev Size : 12000 sectors (5.86 MiB 6.14 MB)\n" +
            "     Array Size : 12000 KiB (11.72 MiB 12.29 MB)\n" +
            "    Data Offset : 2048 sectors\n" +
            "   Super Offset : 8 sectors\n" +
            "   Unused Space : before=1968 sectors, after=0 sectors\n" +
            "          State : active\n" +
            "    Device UUID : d00d0000:11223344:55667788:99aabbc0\n" +
            "\n" +
            "    Update Time : Tue Nov 14 23:13:20 2023\n" +
            $"       Checksum : {checksum:x} - correct\n" +
            "         Events : 18\n" +
            "\n" +
            "         Layout : left-symmetric\n" +
            "     Chunk Size : 512K\n" +
            "\n" +
            "   Device Role : Active device 0\n" +
            "   Array State : A.A ('A' == active, '.' == missing, 'R' == replacing)\n",
            text);
    }

    [Fact]
    public void Shows_a_wrong_checksum_with_the_expected_one_instead_of_refusing()
    {
        var builder = new MdImageBuilder(3, Raid5Layout.LeftSymmetric, 4096, 64);
        using var images = new MdImageSet(builder, seed: 22);
        var sb = builder.BuildSuperblock(1);
        sb[200] ^= 1; // events 20 -> 21
        images.Patch(1, 4096, sb);
        var stored = BinaryPrimitives.ReadUInt32LittleEndian(sb.AsSpan(216));
        var expected = MdImageBuilder.Checksum(sb, builder.EffectiveMaxDev);

        var report = MdExamineReport.Examine(images.Paths[1]);

        Assert.False(report.ChecksumCorrect);
        Assert.Equal(21ul, report.Events);
        Assert.Contains($"       Checksum : {stored:x} - expected {expected:x}\n", report.ToText());
        Assert.Equal($"checksum mismatch: stored 0x{stored:x8}, computed 0x{expected:x8}", report.ReadProblem);
    }

    [Fact]
    public void Shows_spares_and_faulty_members_as_spare_as_mdadm_does()
    {
        var builder = new MdImageBuilder(3, Raid5Layout.LeftSymmetric, 4096, 64) { DevRoles = [0, MdImageBuilder.kRoleFaulty, 2, MdImageBuilder.kRoleSpare] };
        builder.Devices.Add(new MdDeviceSpec { DevNumber = 3 });
        using var images = new MdImageSet(builder, seed: 23);

        Assert.Equal("spare", MdExamineReport.Examine(images.Paths[1]).DeviceRole);
        Assert.Equal("spare", MdExamineReport.Examine(images.Paths[3]).DeviceRole);
        Assert.Null(MdExamineReport.Examine(images.Paths[3]).Role);
        Assert.Equal("A.A", MdExamineReport.Examine(images.Paths[3]).ArrayState);
    }

    [Fact]
    public void Writes_json_with_stable_camel_case_names()
    {
        using var images = new MdImageSet(new MdImageBuilder(3, Raid5Layout.RightSymmetric, 8192, 256) { Events = 9 }, seed: 24);

        using var json = JsonDocument.Parse(MdExamineReport.Examine(images.Paths[2]).ToJson());

        var root = json.RootElement;
        Assert.Equal(
            [
                "image", "magic", "version", "featureMap", "arrayUuid", "name", "creationTime", "raidLevel", "level", "raidDevices",
                "availDevSizeSectors", "arraySizeKib", "usedDevSizeSectors", "dataOffsetSectors", "superOffsetSectors",
                "recoveryOffsetSectors", "unusedBeforeSectors", "unusedAfterSectors", "state", "resyncOffsetSectors", "deviceUuid",
                "internalBitmapSectors", "ppl", "reshapePositionSectors", "deltaDisks", "newLevel", "newLayout", "newChunkSizeKib",
                "flags", "updateTime", "badBlockLog", "checksum", "expectedChecksum", "checksumCorrect", "events", "layout",
                "layoutNumber", "chunkSizeKib", "deviceRole", "role", "arrayState", "devNumber", "maxDev", "readProblem",
            ],
            root.EnumerateObject().Select(p => p.Name));
        Assert.Equal("3e5a1102:c47d901b:620faa55:1788d24c", root.GetProperty("arrayUuid").GetString());
        Assert.Equal(9ul, root.GetProperty("events").GetUInt64());
        Assert.Equal("right-symmetric", root.GetProperty("layout").GetString());
        Assert.Equal(8ul, root.GetProperty("chunkSizeKib").GetUInt64());
        Assert.Equal("Active device 2", root.GetProperty("deviceRole").GetString());
        Assert.Equal(2, root.GetProperty("role").GetInt32());
        Assert.True(root.GetProperty("checksumCorrect").GetBoolean());
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(1_700_000_000), root.GetProperty("creationTime").GetDateTimeOffset());
        Assert.Equal(JsonValueKind.Null, root.GetProperty("readProblem").ValueKind);
    }

    [Theory]
    [InlineData(0ul, "")]
    [InlineData(5000ul * 1024 - 1, "")]
    [InlineData(8ul << 20, " (8.00 MiB 8.39 MB)")]
    [InlineData(33_564_672ul, " (32.02 MiB 33.56 MB)")]
    [InlineData((2ul << 30) - 1, " (2048.34 MiB 2147.48 MB)")] // upstream divides by (1 << 20) / 200 = 5242, not 5242.88
    [InlineData(3ul << 30, " (3.00 GiB 3.22 GB)")]
    public void Sizes_bytes_for_people_as_upstream_mdadm_does(ulong bytes, string expected)
    {
        Assert.Equal(expected, MdExamineReport.HumanSize(bytes));
    }

    [Fact]
    public void Refuses_to_examine_an_image_without_an_md_superblock()
    {
        using var folder = new TemporaryFolder();
        var path = folder.PathOf("zeros.img");
        File.WriteAllBytes(path, new byte[16384]);

        var error = Assert.Throws<MdFormatException>(() => MdExamineReport.Examine(path));

        Assert.Equal($"{path}: no md superblock (magic 0x00000000 at byte 4096, expected 0xa92b4efc)", error.Message);
    }

    private static string Hex(byte[] uuid) =>
        string.Join(':', Enumerable.Range(0, 4).Select(group => Convert.ToHexStringLower(uuid, group * 4, 4)));
}
