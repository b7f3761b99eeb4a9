using System.Buffers.Binary;
using Raid5Actors.Geometry;
using Raid5Actors.Md;
using Raid5Actors.Tests.Arrays;
using Xunit.Abstractions;

namespace Raid5Actors.Tests.Md;

/// <summary>
/// A member's v1.x superblock is read field for field as the builder wrote it from md_p.h, and a
/// superblock md would refuse, or an array this reader cannot serve, is refused with a message
/// naming the image and the reason.
/// </summary>
public class MdSuperblockSpec(ITestOutputHelper output)
{
    [Fact]
    public void Reads_every_field_the_builder_wrote()
    {
        var builder = new MdImageBuilder(5, Raid5Layout.RightSymmetric, 32 * 1024, 1000)
        {
            Name = "host:array7",
            Events = 123_456_789_012,
            ResyncOffsetSectors = 640,
            CreationUnixSeconds = 1_600_000_000 | (250_000L << 40),
            UpdateUnixSeconds = 1_700_000_001,
            FeatureMap = MdImageBuilder.kFeatureBitmapOffset,
            BitmapOffsetSectors = 8,
            MaxDev = 6,
        };
        builder.Devices[3] = builder.Devices[3] with { ExtraDataSectors = 40 };
        using var images = new MdImageSet(builder, seed: 5);

        var sb = MdSuperblock.Read(images.Paths[3]);

        Assert.Equal(images.Paths[3], sb.ImagePath);
        Assert.Equal(0xa92b4efcu, sb.Magic);
        Assert.Equal(1u, sb.MajorVersion);
        Assert.Equal("1.2", sb.Version);
        Assert.Equal(MdFeatures.BitmapOffset, sb.FeatureMap);
        Assert.Equal("3e5a1102:c47d901b:620faa55:1788d24c", sb.SetUuid.ToString());
        Assert.Equal("host:array7", sb.SetName);
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(1_600_000_000).AddTicks(2_500_000), sb.CreationTime);
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(1_700_000_001), sb.UpdateTime);
        Assert.Equal(5, sb.Level);
        Assert.Equal((int)Raid5Layout.RightSymmetric, sb.Layout);
        Assert.Equal(Raid5Layout.RightSymmetric, sb.KnownLayout);
        Assert.Equal(1000ul, sb.SizeSectors);
        Assert.Equal(64u, sb.ChunkSectors);
        Assert.Equal(32 * 1024, sb.ChunkBytes);
        Assert.Equal(5, sb.RaidDisks);
        Assert.Equal(8, sb.BitmapOffsetSectors);
        Assert.Equal(2048ul, sb.DataOffsetSectors);
        Assert.Equal(1040ul, sb.DataSizeSectors);
        Assert.Equal(8ul, sb.SuperOffsetSectors);
        Assert.Equal(3u, sb.DevNumber);
        Assert.Equal("d00d0003:11223344:55667788:99aabbc3", sb.DeviceUuid.ToString());
        Assert.Equal(123_456_789_012ul, sb.Events);
        Assert.Equal(640ul, sb.ResyncOffsetSectors);
        Assert.False(sb.IsClean);
        Assert.Equal(6u, sb.MaxDev);
        Assert.Equal(new ushort[] { 0, 1, 2, 3, 4, 0xffff }, sb.DevRoles);
        Assert.Equal(MdRoleKind.Active, sb.RoleKind);
        Assert.Equal(3, sb.Role);
        var written = builder.BuildSuperblock(3);
        Assert.Equal(BinaryPrimitives.ReadUInt32LittleEndian(written.AsSpan(216)), sb.StoredChecksum);
        Assert.Equal(sb.StoredChecksum, sb.ComputedChecksum);
        Assert.True(sb.ChecksumIsCorrect);
        Assert.Null(sb.FindReadProblem());
    }

    [Theory]
    [InlineData(2, 8L)]
    [InlineData(1, 0L)]
    [InlineData(0, -1L)]
    public void Finds_the_superblock_where_each_minor_version_keeps_it(int minorVersion, long superOffsetSectors)
    {
        var builder = new MdImageBuilder(3, Raid5Layout.LeftSymmetric, 4096, 101) { MinorVersion = minorVersion };
        using var images = new MdImageSet(builder, seed: 6);

        var sb = MdSuperblock.Read(images.Paths[1]);

        Assert.Equal($"1.{minorVersion}", sb.Version);
        var expected = superOffsetSectors >= 0 ? superOffsetSectors : builder.SuperOffsetSectors(1);
        Assert.Equal((ulong)expected, sb.SuperOffsetSectors);
        Assert.Equal(1, sb.Role);
    }

    [Fact]
    public void Refuses_an_image_without_the_md_magic_and_try_read_says_none()
    {
        using var images = new MdImageSet(new MdImageBuilder(3, Raid5Layout.LeftSymmetric, 4096, 64), seed: 7);
        images.Patch(0, 4096, BitConverter.GetBytes(0x12345678u));

        var error = Assert.Throws<MdFormatException>(() => MdSuperblock.Read(images.Paths[0]));

        Assert.Equal($"{images.Paths[0]}: no md superblock (magic 0x12345678 at byte 4096, expected 0xa92b4efc)", error.Message);
        Assert.Null(MdSuperblock.TryRead(images.Paths[0]));
        Assert.Null(MdSuperblock.Probe(images.Paths[0]));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(100)]
    [InlineData(1 << 20)]
    public void Try_read_returns_null_for_files_that_are_not_md_members(int bytes)
    {
        using var folder = new TemporaryFolder();
        var path = folder.PathOf("plain.img");
        File.WriteAllBytes(path, MdImageBuilder.RandomContent(bytes, bytes));

        Assert.Null(MdSuperblock.TryRead(path));
        Assert.Contains("no md superblock", Assert.Throws<MdFormatException>(() => MdSuperblock.Read(path)).Message);
    }

    [Fact]
    public void Refuses_a_checksum_mismatch_and_names_both_sums()
    {
        var builder = new MdImageBuilder(3, Raid5Layout.LeftSymmetric, 4096, 64);
        using var images = new MdImageSet(builder, seed: 8);
        var sb = builder.BuildSuperblock(2);
        sb[40] ^= 0x20; // a letter of set_name changes case
        images.Patch(2, 4096, sb);
        var stored = BinaryPrimitives.ReadUInt32LittleEndian(sb.AsSpan(216));
        var computed = MdImageBuilder.Checksum(sb, builder.EffectiveMaxDev);

        var error = Assert.Throws<MdFormatException>(() => MdSuperblock.Read(images.Paths[2]));

        Assert.Equal($"checksum mismatch: stored 0x{stored:x8}, computed 0x{computed:x8}", error.Reason);
        Assert.Equal(images.Paths[2], error.ImagePath);
        var probed = MdSuperblock.Probe(images.Paths[2])!;
        Assert.False(probed.ChecksumIsCorrect);
        Assert.Equal(computed, probed.ComputedChecksum);
    }

    [Fact]
    public void Computes_md_checksums_as_the_builder_does_for_any_bytes_and_any_max_dev()
    {
        var seed = Random.Shared.Next();
        output.WriteLine($"seed {seed}");
        var random = new Random(seed);
        for (var i = 0; i < 200; i++)
        {
            var bytes = new byte[4096];
            random.NextBytes(bytes);
            var maxDev = (uint)random.Next(0, 1921);

            Assert.Equal(MdImageBuilder.Checksum(bytes, maxDev), MdFormat.Checksum(bytes, maxDev));
        }
    }

    [Theory]
    [InlineData(1, "level 1 (raid1) is not RAID5; only raid5 arrays can be read")]
    [InlineData(6, "level 6 (raid6) is not RAID5; only raid5 arrays can be read")]
    [InlineData(0, "level 0 (raid0) is not RAID5; only raid5 arrays can be read")]
    [InlineData(4, "level 4 (raid4) is not RAID5; only raid5 arrays can be read")]
    public void Refuses_levels_other_than_raid5(int level, string reason)
    {
        var builder = new MdImageBuilder(4, Raid5Layout.LeftSymmetric, 4096, 64) { Level = level };
        using var images = new MdImageSet(builder, seed: 9);

        var error = Assert.Throws<MdFormatException>(() => MdSuperblock.Read(images.Paths[0]));

        Assert.Equal($"{images.Paths[0]}: {reason}", error.Message);
        Assert.NotNull(MdSuperblock.Probe(images.Paths[0]));
    }

    public static TheoryData<string, string> Unservable() => new()
    {
        { "reshape", "a reshape is in progress (3 -> 4 devices, layout 2 -> 2, chunk 4 -> 4 KiB, at sector 96 of the array); an array in mid-reshape cannot be read" },
        { "journal", "the array has a write journal (MD_FEATURE_JOURNAL); journalled arrays cannot be read" },
        { "unknown-feature", "unknown feature bits 0x100000 in feature map 0x100000" },
        { "layout", "layout 9 is not one of md's RAID5 layouts (0-5: left-asymmetric, right-asymmetric, left-symmetric, right-symmetric, parity-first, parity-last)" },
        { "small-chunk", "chunk size 2048 bytes is not a power of two from 4 KiB to 4 MiB" },
        { "many-devices", "17 raid devices; this reader serves 3 to 16" },
        { "two-devices", "2 raid devices; this reader serves 3 to 16" },
        { "data-overlaps-superblock", "data offset 8 sectors overlaps the superblock at sector 8" },
        { "used-size-beyond-data", "used device size 100 sectors exceeds this member's data size 64 sectors" },
    };

    [Theory]
    [MemberData(nameof(Unservable))]
    public void Refuses_what_md_would_refuse_or_this_reader_cannot_serve(string change, string reason)
    {
        var builder = new MdImageBuilder(4, Raid5Layout.LeftSymmetric, 4096, 64);
        switch (change)
        {
            case "reshape":
                builder.FeatureMap = MdImageBuilder.kFeatureReshapeActive;
                builder.ReshapePositionSectors = 96;
                builder.DeltaDisks = 1;
                break;
            case "journal":
                builder.FeatureMap = MdImageBuilder.kFeatureJournal;
                break;
            case "unknown-feature":
                builder.FeatureMap = 1u << 20;
                break;
            case "small-chunk":
                builder.ChunkBytes = 2048;
                break;
            case "many-devices":
                builder.RaidDisks = 17;
                break;
            case "two-devices":
                builder.RaidDisks = 2;
                break;
            case "data-overlaps-superblock":
                builder.DataOffsetSectors = 8;
                break;
        }

        using var images = new MdImageSet(builder, seed: 10);
        if (change == "layout")
        {
            builder.LayoutNumber = 9; // only the superblock: the builder places data by md's six layouts
            builder.RewriteSuperblock(images.Paths[0], 0);
        }

        if (change == "used-size-beyond-data")
        {
            builder.DeviceSectors = 100;
            builder.Devices[0] = builder.Devices[0] with { ExtraDataSectors = -36 };
            builder.RewriteSuperblock(images.Paths[0], 0);
        }

        var error = Assert.Throws<MdFormatException>(() => MdSuperblock.Read(images.Paths[0]));

        Assert.StartsWith(reason, error.Reason);
        Assert.StartsWith($"{images.Paths[0]}: ", error.Message);
    }

    [Fact]
    public void Refuses_a_data_area_that_ends_beyond_the_image()
    {
        var builder = new MdImageBuilder(3, Raid5Layout.LeftSymmetric, 4096, 64);
        using var images = new MdImageSet(builder, seed: 11);
        using (var file = new FileStream(images.Paths[1], FileMode.Open, FileAccess.Write))
            file.SetLength(file.Length - 4096);

        var error = Assert.Throws<MdFormatException>(() => MdSuperblock.Read(images.Paths[1]));

        Assert.Equal("data area (offset 2048 + size 64 sectors) ends beyond the image (2104 sectors)", error.Reason);
    }

    [Fact]
    public void Reads_the_role_of_spares_and_faulty_members()
    {
        var builder = new MdImageBuilder(3, Raid5Layout.LeftSymmetric, 4096, 64)
        {
            DevRoles = [0, MdImageBuilder.kRoleFaulty, 2, MdImageBuilder.kRoleSpare],
        };
        builder.Devices.Add(new MdDeviceSpec { DevNumber = 3 });
        using var images = new MdImageSet(builder, seed: 12);

        Assert.Equal(MdRoleKind.Faulty, MdSuperblock.Read(images.Paths[1]).RoleKind);
        Assert.Null(MdSuperblock.Read(images.Paths[1]).Role);
        Assert.Equal(MdRoleKind.Spare, MdSuperblock.Read(images.Paths[3]).RoleKind);
        Assert.Equal(2, MdSuperblock.Read(images.Paths[2]).Role);
    }

    [Fact]
    public void Prints_uuids_as_mdadm_does_and_parses_them_back()
    {
        var uuid = MdUuid.FromBytes([0x3e, 0x5a, 0x11, 0x02, 0xc4, 0x7d, 0x90, 0x1b, 0x62, 0x0f, 0xaa, 0x55, 0x17, 0x88, 0xd2, 0x4c]);

        Assert.Equal("3e5a1102:c47d901b:620faa55:1788d24c", uuid.ToString());
        Assert.Equal(uuid, MdUuid.Parse("3e5a1102:c47d901b:620faa55:1788d24c"));
        Assert.Equal(new byte[] { 0x3e, 0x5a, 0x11, 0x02, 0xc4, 0x7d, 0x90, 0x1b, 0x62, 0x0f, 0xaa, 0x55, 0x17, 0x88, 0xd2, 0x4c }, uuid.ToBytes());
    }
}
