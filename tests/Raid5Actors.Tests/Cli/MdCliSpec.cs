using System.Security.Cryptography;
using System.Text.Json;
using Raid5Actors.Geometry;
using Raid5Actors.Tests.Arrays;
using Raid5Actors.Tests.Md;
using Raid5Actors.Tests.Nbd;
using Xunit.Abstractions;

namespace Raid5Actors.Tests.Cli;

/// <summary>
/// md import as a user types it: <c>raid5 examine</c> on md member images and <c>raid5 serve --md</c>
/// read by real NBD clients. The images come from <see cref="MdImageBuilder"/>, written from md_p.h
/// and raid5.c independently of the reader.
/// </summary>
public class MdCliSpec(ITestOutputHelper output)
{
    private const int kChunkBytes = 64 * 1024;

    private readonly Raid5Command _raid5 = new(output);

    [Fact]
    public async Task Examine_shows_an_md_members_uuid_level_layout_chunk_role_and_events_as_text_and_json()
    {
        var builder = Builder(4, Raid5Layout.RightAsymmetric);
        builder.Events = 77;
        using var images = new MdImageSet(builder, seed: 41);
        var uuid = MdadmUuid(builder.SetUuid);

        var text = await _raid5.RunOkAsync("examine", images.Paths[2]);
        var json = JsonDocument.Parse((await _raid5.RunOkAsync("examine", images.Paths[2], "--json")).Stdout).RootElement;

        foreach (var line in new[]
                 {
                     $"Array UUID : {uuid}", "Raid Level : raid5", "Raid Devices : 4", "Layout : right-asymmetric",
                     "Chunk Size : 64K", "Device Role : Active device 2", "Events : 77", "Version : 1.2", "Data Offset : 2048 sectors",
                 })
            Assert.Contains(line, text.Stdout);
        Assert.Matches(@"Checksum : [0-9a-f]{8} - correct", text.Stdout);
        Assert.Equal(uuid, json.GetProperty("arrayUuid").GetString());
        Assert.Equal(5, json.GetProperty("level").GetInt32());
        Assert.Equal("right-asymmetric", json.GetProperty("layout").GetString());
        Assert.Equal(64ul, json.GetProperty("chunkSizeKib").GetUInt64());
        Assert.Equal(77ul, json.GetProperty("events").GetUInt64());
        Assert.Equal("Active device 2", json.GetProperty("deviceRole").GetString());
    }

    [Theory]
    [InlineData(Raid5Layout.LeftSymmetric)]
    [InlineData(Raid5Layout.ParityLast)]
    public async Task Serve_md_leaves_a_stale_member_out_rebuilds_its_slot_and_nbdcopy_reads_the_arrays_content(Raid5Layout layout)
    {
        var builder = Builder(4, layout);
        builder.Devices[1] = builder.Devices[1] with { Events = 11 }; // missed the last writes: md would kick it
        using var images = new MdImageSet(builder, seed: 42 + (int)layout);
        images.GarbleData(1, seed: 5); // whatever it holds must not be read
        using var folder = new TemporaryFolder();
        var copy = folder.PathOf("copy.img");

        await using (var served = await ServedCli.StartAsync(output, ["serve", "--md", .. images.Paths, "--port", "0"]))
        {
            Assert.Contains($"{images.Paths[1]}", served.Stdout);
            Assert.Contains("stale", served.Stdout, StringComparison.OrdinalIgnoreCase);
            var info = await ExternalTool.RunOkAsync(output, "nbdinfo", [served.Uri]);
            Assert.Contains($"export-size: {images.Content.Length}", info);
            Assert.Contains("is_read_only: true", info);
            await ExternalTool.RunOkAsync(output, "nbdcopy", [served.Uri, copy]);
            var write = await ExternalTool.RunAsync(output, "nbdcopy", [copy, served.Uri]);
            Assert.NotEqual(0, write.ExitCode);
        }

        Assert.Equal(Convert.ToHexString(SHA256.HashData(images.Content)), Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(copy))));
    }

    [Theory]
    [InlineData("checksum", "checksum mismatch")]
    [InlineData("magic", "no md superblock")]
    [InlineData("level", "is not RAID5")]
    [InlineData("foreign", "belongs to array")]
    public async Task Serve_md_refuses_a_bad_member_naming_the_image_and_why(string damage, string reason)
    {
        var builder = Builder(3, Raid5Layout.LeftSymmetric);
        if (damage == "level")
            builder.Level = 6;
        using var images = new MdImageSet(builder, seed: 43);
        using var foreign = new MdImageSet(Builder(3, Raid5Layout.LeftSymmetric, otherArray: true), seed: 44);
        var paths = images.Paths.ToArray();
        switch (damage)
        {
            case "checksum":
                var sb = builder.BuildSuperblock(1);
                sb[40] ^= 0x20; // one byte of set_name, under the checksum
                images.Patch(1, 4096, sb);
                break;
            case "magic":
                images.Patch(1, 4096, BitConverter.GetBytes(0x12345678u));
                break;
            case "foreign":
                paths[1] = foreign.Paths[1];
                break;
        }

        var result = await _raid5.RunAsync(["serve", "--md", .. paths, "--port", "0"], TimeSpan.FromSeconds(60));

        Assert.True(result.ExitCode == 1, result.ToString());
        Assert.Contains(reason, result.Stderr, StringComparison.OrdinalIgnoreCase);
        Assert.Contains(damage == "level" ? paths[0] : paths[1], result.Stderr);
        Assert.DoesNotContain("serving", result.Stdout);
    }

    private static MdImageBuilder Builder(int members, Raid5Layout layout, bool otherArray = false)
    {
        // 5 chunks per member after the 1 MiB data offset: small images, several rows per layout rotation.
        var builder = new MdImageBuilder(members, layout, kChunkBytes, 5 * kChunkBytes / MdImageBuilder.kSectorBytes);
        if (otherArray)
            builder.SetUuid = [.. builder.SetUuid.Select(b => (byte)(b ^ 0x5a))];
        return builder;
    }

    // mdadm prints a UUID as four groups of eight hex digits, in byte order, joined by colons.
    private static string MdadmUuid(byte[] uuid) =>
        string.Join(':', Enumerable.Range(0, 4).Select(i => Convert.ToHexStringLower(uuid.AsSpan(i * 4, 4))));
}
