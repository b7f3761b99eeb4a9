using System.Text.Json;
using Raid5Actors.Geometry;
using Raid5Actors.Md;
using Raid5Actors.Tests.Arrays;
using Xunit.Abstractions;

namespace Raid5Actors.Tests.Md;

/// <summary>
/// Assembly picks members the way mdadm does (event counts within md's margin, the fresher of two
/// claimants, spares and faulty members left out) and refuses, with a message saying why, what
/// mdadm would not start: images of two arrays, two roles missing, a dirty degraded array without Force.
/// </summary>
public class MdAssemblySpec(ITestOutputHelper output)
{
    [Fact]
    public void Refuses_a_member_of_another_array_naming_both_uuids_and_the_image()
    {
        using var ours = new MdImageSet(Builder(), Seed());
        var other = Builder();
        other.SetUuid = [0x11, 0x11, 0x11, 0x11, 0x22, 0x22, 0x22, 0x22, 0x33, 0x33, 0x33, 0x33, 0x44, 0x44, 0x44, 0x44];
        other.Events = 5;
        using var theirs = new MdImageSet(other, Seed());

        var error = Assert.Throws<MdAssemblyException>(() => MdArray.Open([.. ours.Without(1), theirs.Paths[1]]));

        Assert.Equal(
            $"{theirs.Paths[1]} belongs to array 11111111:22222222:33333333:44444444, not to array 3e5a1102:c47d901b:620faa55:1788d24c " +
            $"of the freshest member {ours.Paths[0]} (events 20); members of different arrays cannot be assembled together",
            error.Message);
    }

    [Fact]
    public void Refuses_two_missing_members()
    {
        using var images = new MdImageSet(Builder(), Seed());

        var error = Assert.Throws<MdAssemblyException>(() => MdArray.Open(images.Without(1, 3)));

        Assert.StartsWith("cannot assemble: 2 of 4 members missing (roles 1, 3); RAID5 survives the loss of one.", error.Message);
    }

    [Fact]
    public async Task Refuses_a_dirty_degraded_array_unless_forced_and_then_reads_it()
    {
        var builder = Builder();
        builder.ResyncOffsetSectors = 24;
        using var images = new MdImageSet(builder, Seed());

        var error = Assert.Throws<MdAssemblyException>(() => MdArray.Open(images.Without(2)));
        Assert.StartsWith(
            $"cannot start dirty degraded array: role 2 is missing and {images.Paths[0]} says the array was not stopped cleanly " +
            "(resync from sector 24 pending), so the parity that would rebuild role 2 may be stale; use Force (mdadm --force) to read it anyway.",
            error.Message);

        using var array = MdArray.Open(images.Without(2), new MdAssemblyOptions { Force = true });

        Assert.True(array.Report.Forced);
        Assert.False(array.Report.Clean);
        Assert.Equal([2], array.Report.MissingRoles);
        Assert.Contains(array.Report.Warnings, w => w.StartsWith("dirty degraded array started with Force", StringComparison.Ordinal));
        Assert.Equal(images.Content, await MdImageSet.ReadAllAsync(array));
    }

    [Fact]
    public async Task Opens_a_dirty_array_that_is_complete_and_says_so()
    {
        var builder = Builder();
        builder.Clean = false;
        using var images = new MdImageSet(builder, Seed());

        using var array = MdArray.Open(images.Paths);

        Assert.False(array.Report.Clean);
        Assert.False(array.Report.Forced);
        Assert.Contains(array.Report.Warnings, w => w.StartsWith("the array was not stopped cleanly", StringComparison.Ordinal));
        Assert.Equal(images.Content, await MdImageSet.ReadAllAsync(array));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Takes_the_fresher_of_two_images_claiming_one_role_whatever_their_order(bool olderFirst)
    {
        var builder = Builder();
        builder.Devices.Add(new MdDeviceSpec { DevNumber = 1, Events = 9 }); // an old copy of device 1
        using var images = new MdImageSet(builder, Seed());
        images.GarbleData(4, Seed());
        var paths = olderFirst ? [images.Paths[4], .. images.Without(4)] : images.Paths;

        using var array = MdArray.Open(paths);

        Assert.Equal(images.Content, await MdImageSet.ReadAllAsync(array));
        var old = array.Report.Members.Single(m => m.ImagePath == images.Paths[4]);
        Assert.Equal(MdMemberState.Superseded, old.State);
        Assert.Equal($"role 1 is taken by fresher {images.Paths[1]} (events 20 > 9)", old.Detail);
        Assert.Equal(images.Paths[1], array.Report.ByRole()[1]!.ImagePath);
    }

    [Fact]
    public void Takes_the_first_listed_of_two_equally_fresh_claimants()
    {
        var builder = Builder();
        builder.Devices.Add(new MdDeviceSpec { DevNumber = 2 });
        using var images = new MdImageSet(builder, Seed());

        using var array = MdArray.Open([images.Paths[4], .. images.Without(4)]);

        Assert.Equal(MdMemberState.Active, array.Report.Members[0].State);
        Assert.Equal(MdMemberState.Superseded, array.Report.Members.Single(m => m.ImagePath == images.Paths[2]).State);
    }

    [Fact]
    public async Task Leaves_out_spares_and_members_marked_faulty()
    {
        var builder = Builder();
        builder.DevRoles = [0, 1, 2, 3, MdImageBuilder.kRoleSpare, MdImageBuilder.kRoleFaulty];
        builder.Devices.Add(new MdDeviceSpec { DevNumber = 4 });
        builder.Devices.Add(new MdDeviceSpec { DevNumber = 5 });
        using var images = new MdImageSet(builder, Seed());

        using var array = MdArray.Open(images.Paths);

        Assert.Equal(MdMemberState.Spare, array.Report.Members[4].State);
        Assert.Equal(MdMemberState.Faulty, array.Report.Members[5].State);
        Assert.False(array.Report.Degraded);
        Assert.Equal(images.Content, await MdImageSet.ReadAllAsync(array));
    }

    [Fact]
    public async Task Ignores_a_member_that_reports_the_freshest_as_failed_unless_forced()
    {
        var builder = Builder();
        builder.Devices[3] = builder.Devices[3] with { Events = 19, DevRoles = [MdImageBuilder.kRoleFaulty, 1, 2, 3] };
        using var images = new MdImageSet(builder, Seed());

        using (var array = MdArray.Open(images.Paths))
        {
            var split = array.Report.Members[3];
            Assert.Equal(MdMemberState.Rejected, split.State);
            Assert.Equal($"it reports {images.Paths[0]} (role 0) as failed; mdadm ignores such a member without --force", split.Detail);
            Assert.Equal([3], array.Report.MissingRoles);
            Assert.Equal(images.Content, await MdImageSet.ReadAllAsync(array));
        }

        using var forced = MdArray.Open(images.Paths, new MdAssemblyOptions { Force = true });
        Assert.Equal(MdMemberState.Active, forced.Report.Members[3].State);
        Assert.True(forced.Report.Forced);
        Assert.False(forced.Report.Degraded);
    }

    [Fact]
    public async Task Force_pulls_in_the_freshest_stale_member_when_two_roles_would_be_missing()
    {
        var builder = Builder();
        builder.Devices[2] = builder.Devices[2] with { Events = 11 };
        using var images = new MdImageSet(builder, Seed());
        var paths = images.Without(3);

        Assert.StartsWith("cannot assemble: 2 of 4 members missing (roles 2, 3)", Assert.Throws<MdAssemblyException>(() => MdArray.Open(paths)).Message);

        using var array = MdArray.Open(paths, new MdAssemblyOptions { Force = true });

        Assert.Equal(MdMemberState.Forced, array.Report.Members[2].State);
        Assert.Equal([3], array.Report.MissingRoles);
        Assert.True(array.Report.Forced);
        Assert.Contains(array.Report.Warnings, w => w == $"{images.Paths[2]} was forced in with events 11 < 20: its data may be out of date");
        Assert.Equal(images.Content, await MdImageSet.ReadAllAsync(array));
    }

    [Fact]
    public async Task Leaves_out_a_member_that_was_still_being_rebuilt()
    {
        var builder = Builder();
        builder.Devices[1] = builder.Devices[1] with { ExtraFeatures = MdImageBuilder.kFeatureRecoveryOffset, RecoveryOffsetSectors = 16 };
        using var images = new MdImageSet(builder, Seed());
        images.GarbleData(1, Seed());

        using var array = MdArray.Open(images.Paths);

        Assert.Equal(MdMemberState.Rebuilding, array.Report.Members[1].State);
        Assert.StartsWith("was being rebuilt: in sync only up to sector 16", array.Report.Members[1].Detail);
        Assert.Equal(images.Content, await MdImageSet.ReadAllAsync(array));
    }

    [Fact]
    public void Refuses_an_image_with_a_bad_checksum_or_no_superblock_among_the_members()
    {
        using var images = new MdImageSet(Builder(), Seed());
        images.Patch(1, 4096 + 40, "X"u8);
        images.Patch(3, 4096, new byte[4]);

        Assert.StartsWith($"{images.Paths[1]}: checksum mismatch: stored 0x", Assert.Throws<MdFormatException>(() => MdArray.Open(images.Without(3))).Message);
        Assert.Equal(
            $"{images.Paths[3]}: no md superblock (magic 0x00000000 at byte 4096, expected 0xa92b4efc)",
            Assert.Throws<MdFormatException>(() => MdArray.Open(images.Without(1))).Message);
    }

    [Fact]
    public void Refuses_an_array_of_another_level()
    {
        var builder = Builder();
        builder.Level = 6;
        using var images = new MdImageSet(builder, Seed());

        var error = Assert.Throws<MdFormatException>(() => MdArray.Open(images.Paths));

        Assert.Equal($"{images.Paths[0]}: level 6 (raid6) is not RAID5; only raid5 arrays can be read", error.Message);
    }

    [Fact]
    public void Refuses_images_of_which_none_holds_a_role()
    {
        var builder = Builder();
        builder.DevRoles = [MdImageBuilder.kRoleSpare, MdImageBuilder.kRoleSpare, MdImageBuilder.kRoleFaulty, MdImageBuilder.kRoleSpare];
        using var images = new MdImageSet(builder, Seed());

        var error = Assert.Throws<MdAssemblyException>(() => MdArray.Open(images.Paths));

        Assert.StartsWith("cannot assemble: none of the 4 images holds a role in an array", error.Message);
    }

    [Fact]
    public void Refuses_an_image_that_cannot_be_opened()
    {
        using var folder = new TemporaryFolder();

        var error = Assert.Throws<MdFormatException>(() => MdArray.Open([folder.PathOf("absent.img")]));

        Assert.StartsWith($"{folder.PathOf("absent.img")}: cannot open the image:", error.Message);
    }

    [Fact]
    public void Reports_every_image_in_the_order_given_with_its_role_and_events()
    {
        var builder = Builder();
        builder.DevRoles = [0, 1, MdImageBuilder.kRoleFaulty, 3];
        builder.Devices[2] = builder.Devices[2] with { Events = 3, DevRoles = [0, 1, 2, 3] };
        using var images = new MdImageSet(builder, Seed());

        using var array = MdArray.Open([images.Paths[3], images.Paths[2], images.Paths[1], images.Paths[0]]);

        var report = array.Report;
        Assert.Equal([3, 2, 1, 0], report.Members.Select(m => m.Role!.Value));
        Assert.Equal([20ul, 3ul, 20ul, 20ul], report.Members.Select(m => m.Events));
        Assert.Equal(images.Paths[3], report.FreshestImage);
        Assert.Equal(builder.CapacityBytes, report.CapacityBytes);
        Assert.Equal(Raid5Layout.LeftSymmetric, report.Layout);
        Assert.Equal(4, report.RaidDisks);
        Assert.Equal("3e5a1102:c47d901b:620faa55:1788d24c", report.ArrayUuid.ToString());
        var text = report.ToText();
        output.WriteLine(text);
        Assert.Contains("  role 2: missing (rebuilt from the others by XOR)\n", text);
        Assert.Contains($"  role 0: {images.Paths[0]} (events 20)\n", text);
        Assert.Contains($"  left out: {images.Paths[2]}: stale: events 3, the array is at 20 (md allows 1 behind)\n", text);
    }

    [Fact]
    public void Writes_the_report_as_json_with_the_uuid_and_layout_as_mdadm_names_them()
    {
        var builder = Builder();
        builder.Devices[1] = builder.Devices[1] with { Events = 2 };
        using var images = new MdImageSet(builder, Seed());
        using var array = MdArray.Open(images.Paths);

        using var json = JsonDocument.Parse(array.Report.ToJson());

        var root = json.RootElement;
        Assert.Equal(
            [
                "arrayUuid", "name", "raidDisks", "layout", "chunkBytes", "memberDataBytes", "capacityBytes", "events", "freshestImage",
                "members", "missingRoles", "clean", "forced", "warnings", "degraded", "layoutName",
            ],
            root.EnumerateObject().Select(p => p.Name));
        Assert.Equal("3e5a1102:c47d901b:620faa55:1788d24c", root.GetProperty("arrayUuid").GetString());
        Assert.Equal("left-symmetric", root.GetProperty("layoutName").GetString());
        Assert.True(root.GetProperty("degraded").GetBoolean());
        var stale = root.GetProperty("members")[1];
        Assert.Equal(["imagePath", "devNumber", "role", "events", "state", "detail", "isUsed"], stale.EnumerateObject().Select(p => p.Name));
        Assert.Equal("stale", stale.GetProperty("state").GetString());
        Assert.Equal(images.Paths[1], stale.GetProperty("imagePath").GetString());
        Assert.Equal(2ul, stale.GetProperty("events").GetUInt64());
    }

    private static MdImageBuilder Builder() => MdArraySpec.Builder(4, Raid5Layout.LeftSymmetric, 4096);

    private int Seed()
    {
        var seed = Random.Shared.Next();
        output.WriteLine($"seed {seed}");
        return seed;
    }
}
