using Raid5Actors.Geometry;
using Raid5Actors.Md;
using Xunit.Abstractions;

namespace Raid5Actors.Tests.Md;

/// <summary>
/// An md RAID5 array read from member images written by the independent <see cref="MdImageBuilder"/>
/// returns exactly the logical bytes the images were built from: whole, in ranges that cut chunks,
/// with one member absent, and with a stale member whose data is garbage.
/// </summary>
public class MdArraySpec(ITestOutputHelper output)
{
    public static TheoryData<Raid5Layout, int, int> LayoutsMembersChunks()
    {
        var data = new TheoryData<Raid5Layout, int, int>();
        foreach (var layout in Enum.GetValues<Raid5Layout>())
        {
            foreach (var members in new[] { 3, 5 })
            {
                foreach (var chunkBytes in new[] { 4096, 64 * 1024 })
                    data.Add(layout, members, chunkBytes);
            }
        }

        return data;
    }

    public static TheoryData<Raid5Layout> Layouts()
    {
        var data = new TheoryData<Raid5Layout>();
        foreach (var layout in Enum.GetValues<Raid5Layout>())
            data.Add(layout);
        return data;
    }

    [Theory]
    [MemberData(nameof(LayoutsMembersChunks))]
    public async Task Reads_back_the_bytes_md_placed_whole_and_in_ranges_that_cut_chunks(Raid5Layout layout, int members, int chunkBytes)
    {
        var seed = Seed();
        using var images = new MdImageSet(Builder(members, layout, chunkBytes), seed);

        using var array = MdArray.Open(images.Paths);

        Assert.Equal(images.Content.Length, array.CapacityBytes);
        Assert.Equal(images.Content, await MdImageSet.ReadAllAsync(array));
        await AssertRandomRangesAsync(array, images.Content, new Random(seed));
        Assert.False(array.Report.Degraded);
        Assert.All(array.Report.Members, m => Assert.Equal(MdMemberState.Active, m.State));
    }

    [Theory]
    [MemberData(nameof(Layouts))]
    public async Task Rebuilds_any_one_absent_member_by_xor(Raid5Layout layout)
    {
        var seed = Seed();
        using var images = new MdImageSet(Builder(4, layout, 16 * 1024), seed);

        for (var absent = 0; absent < 4; absent++)
        {
            using var array = MdArray.Open(images.Without(absent));

            Assert.Equal([absent], array.Report.MissingRoles);
            Assert.Equal(images.Content, await MdImageSet.ReadAllAsync(array));
            await AssertRandomRangesAsync(array, images.Content, new Random(seed + absent));
        }
    }

    [Fact]
    public async Task Leaves_out_a_stale_member_and_rebuilds_its_role_even_though_its_data_is_garbage()
    {
        var seed = Seed();
        var builder = Builder(4, Raid5Layout.LeftSymmetric, 8192);
        builder.DevRoles = [0, 1, MdImageBuilder.kRoleFaulty, 3]; // the array's view: device 2 failed
        builder.Devices[2] = builder.Devices[2] with { Events = 12, DevRoles = [0, 1, 2, 3] };
        using var images = new MdImageSet(builder, seed);
        images.GarbleData(2, seed + 1);

        using var array = MdArray.Open(images.Paths);

        Assert.Equal(images.Content, await MdImageSet.ReadAllAsync(array));
        var stale = array.Report.Members[2];
        Assert.Equal(MdMemberState.Stale, stale.State);
        Assert.Contains("events 12, the array is at 20", stale.Detail);
        Assert.Equal([2], array.Report.MissingRoles);
        Assert.Contains($"left out: {images.Paths[2]}: stale", array.Report.ToText());
    }

    [Fact]
    public async Task Takes_a_member_one_event_behind_as_md_does()
    {
        var seed = Seed();
        var builder = Builder(3, Raid5Layout.RightAsymmetric, 4096);
        builder.Devices[1] = builder.Devices[1] with { Events = 19 };
        using var images = new MdImageSet(builder, seed);

        using var array = MdArray.Open(images.Paths);

        Assert.Equal(MdMemberState.Active, array.Report.Members[1].State);
        Assert.False(array.Report.Degraded);
        Assert.Equal(images.Content, await MdImageSet.ReadAllAsync(array));
    }

    [Fact]
    public async Task Serves_many_reads_in_flight_at_once()
    {
        var seed = Seed();
        using var images = new MdImageSet(Builder(5, Raid5Layout.LeftSymmetric, 4096), seed);
        using var array = MdArray.Open(images.Without(3));
        var random = new Random(seed);
        var ranges = Enumerable.Range(0, 200).Select(_ => RandomRange(random, array.CapacityBytes)).ToArray();

        var reads = ranges.Select(async range =>
        {
            var buffer = new byte[range.Length];
            await array.ReadAsync(range.Offset, buffer);
            return buffer;
        }).ToArray();
        var results = await Task.WhenAll(reads);

        for (var i = 0; i < ranges.Length; i++)
            Assert.True(results[i].AsSpan().SequenceEqual(images.Content.AsSpan((int)ranges[i].Offset, ranges[i].Length)), $"range {i} at {ranges[i].Offset}");
    }

    [Fact]
    public async Task Is_read_only_and_refuses_unaligned_or_out_of_range_reads()
    {
        using var images = new MdImageSet(Builder(3, Raid5Layout.LeftSymmetric, 4096), Seed());
        using var array = MdArray.Open(images.Paths);

        Assert.True(array.IsReadOnly);
        await Assert.ThrowsAsync<NotSupportedException>(() => array.WriteAsync(0, new byte[512]));
        await array.FlushAsync();
        await Assert.ThrowsAsync<ArgumentException>(() => array.ReadAsync(100, new byte[512]));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => array.ReadAsync(array.CapacityBytes - 512, new byte[1024]));
        Assert.Equal(images.Content, await MdImageSet.ReadAllAsync(array));

        array.Dispose();
        await Assert.ThrowsAsync<ObjectDisposedException>(() => array.ReadAsync(0, new byte[512]));
    }

    // With parity on one member, every other member holds a chunk in every row: one long read is one
    // run of thousands of chunks per member, more than a single preadv takes (IOV_MAX is 1024).
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Reads_thousands_of_chunks_of_one_member_in_a_single_request(bool degraded)
    {
        var seed = Seed();
        using var images = new MdImageSet(new MdImageBuilder(3, Raid5Layout.ParityFirst, 4096, 3000 * 8), seed);
        using var array = MdArray.Open(degraded ? images.Without(2) : images.Paths);

        Assert.Equal(images.Content, await MdImageSet.ReadAllAsync(array));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    public async Task Reads_v1_0_and_v1_1_members_too(int minorVersion)
    {
        var seed = Seed();
        var builder = Builder(4, Raid5Layout.LeftAsymmetric, 8192);
        builder.MinorVersion = minorVersion;
        builder.DataOffsetSectors = minorVersion == 0 ? 0 : 16;
        using var images = new MdImageSet(builder, seed);

        using var array = MdArray.Open(images.Without(1));

        Assert.Equal($"1.{minorVersion}", array.Superblock.Version);
        Assert.Equal(images.Content, await MdImageSet.ReadAllAsync(array));
    }

    /// <summary>2n + 1 rows, so parity visits every member at least twice; plus 3 sectors md rounds away.</summary>
    internal static MdImageBuilder Builder(int members, Raid5Layout layout, int chunkBytes) =>
        new(members, layout, chunkBytes, (((2 * members) + 1) * (chunkBytes / 512)) + 3);

    private static (long Offset, int Length) RandomRange(Random random, long capacityBytes)
    {
        var sectors = capacityBytes / 512;
        var start = random.NextInt64(sectors);
        var length = (int)random.NextInt64(1, Math.Min(sectors - start, 300) + 1);
        return (start * 512, length * 512);
    }

    private static async Task AssertRandomRangesAsync(MdArray array, byte[] content, Random random)
    {
        for (var i = 0; i < 40; i++)
        {
            var (offset, length) = RandomRange(random, array.CapacityBytes);
            var buffer = new byte[length];
            await array.ReadAsync(offset, buffer);
            Assert.True(buffer.AsSpan().SequenceEqual(content.AsSpan((int)offset, length)), $"bytes [{offset}, {offset + length}) differ");
        }
    }

    private int Seed()
    {
        var seed = Random.Shared.Next();
        output.WriteLine($"seed {seed}");
        return seed;
    }
}
