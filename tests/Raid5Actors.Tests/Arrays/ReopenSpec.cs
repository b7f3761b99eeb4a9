using Raid5Actors.Arrays;
using Raid5Actors.Disks;
using Raid5Actors.Geometry;
using Xunit.Abstractions;

namespace Raid5Actors.Tests.Arrays;

/// <summary>An array stopped cleanly and opened again holds every byte written to it, and says so in its status.</summary>
public sealed class ReopenSpec(ITestOutputHelper output) : IDisposable
{
    private const long kMiB = 1L << 20;
    private const int kRandomRanges = 48;

    private readonly TemporaryFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    [Theory]
    // The file cases leave a partial chunk past the data area: it is rounded away, and the last sector still works.
    [InlineData(MemberKind.Files, 3, 4096, Raid5Layout.LeftSymmetric, kMiB + (512 << 10) + 3072, 16 << 10)]
    [InlineData(MemberKind.Files, 5, 65536, Raid5Layout.RightAsymmetric, 3 * kMiB + (12 << 10), 256 << 10)]
    [InlineData(MemberKind.Memory, 4, 16384, Raid5Layout.ParityFirst, 2 * kMiB, 64 << 10)]
    public async Task A_reopened_array_reads_back_every_byte_written_before_a_clean_stop(
        MemberKind kind, int members, int chunkBytes, Raid5Layout layout, long memberBytes, long bitmapChunkBytes)
    {
        var array = new ArrayUnderTest(_temp.PathOf("array"), kind);
        var create = new Raid5CreateOptions(members, memberBytes, chunkBytes, layout, bitmapChunkBytes);
        var dataBytes = (memberBytes - MemberSuperblock.kDefaultDataOffsetBytes) / chunkBytes * chunkBytes;
        var geometry = ArrayGeometry.Create(members, chunkBytes, layout, dataBytes);
        var expected = new ExpectedDevice(geometry.CapacityBytes, ExpectedDevice.NewSeed(output));
        ArrayMetadata created;

        await using (var raid = await array.CreateAsync(create))
        {
            created = raid.Metadata;
            Assert.Equal(geometry, raid.Geometry);
            foreach (var (offset, length) in expected.InterestingRanges(geometry, kRandomRanges))
                await expected.WriteAsync(raid, offset, length, fua: expected.Random.Next(4) == 0);
            await expected.AssertReadsBackAsync(raid);

            var running = await raid.GetStatusAsync();
            Assert.Equal("active", running.State);
            Assert.NotNull(running.Bitmap);
            Assert.True(running.Bitmap.DurableChunks > 0, $"the writes left no durable bitmap bit: {running}");
        }

        array.AssertParityConsistent(created);
        await using (var raid = await array.OpenAsync())
        {
            Assert.Equal(created, raid.Metadata);
            await expected.AssertReadsBackAsync(raid);

            var status = await raid.GetStatusAsync();
            output.WriteLine(status.ToString());
            Assert.Equal("active", status.State);
            Assert.Equal(created.ArrayId, status.ArrayId);
            Assert.Equal(geometry, status.Geometry);
            Assert.Equal(geometry.CapacityBytes, status.CapacityBytes);
            Assert.Equal(created.Events, status.Events);
            Assert.Equal(Enumerable.Range(0, members), status.Members.Select(m => m.Role));
            Assert.All(status.Members, m => Assert.Equal("in-sync", m.State));
            Assert.All(status.Members, m => Assert.Equal(array.Members.Describe(m.Role), m.Name));
            Assert.NotNull(status.Bitmap);
            Assert.Equal(bitmapChunkBytes, status.Bitmap.ChunkBytes);
            Assert.Equal(dataBytes / bitmapChunkBytes, status.Bitmap.ChunkCount);
            Assert.Equal(0, status.Bitmap.PendingResyncChunks);
            Assert.Equal(0, status.Bitmap.SetChunks);
            Assert.Equal(0, status.Bitmap.DurableChunks);
        }
    }

    [Fact]
    public async Task A_reopened_array_takes_new_writes_and_keeps_them_across_another_reopen()
    {
        var array = new ArrayUnderTest(_temp.PathOf("array"), MemberKind.Files);
        var expected = new ExpectedDevice(2 * kMiB, ExpectedDevice.NewSeed(output));
        await using (var raid = await array.CreateAsync(new Raid5CreateOptions(3, 2 * kMiB, 4096)))
            await expected.WriteAsync(raid, 0, 256 << 10);

        await using (var raid = await array.OpenAsync())
        {
            await expected.WriteAsync(raid, 128 << 10, 256 << 10);
            await expected.WriteAsync(raid, expected.CapacityBytes - 4096, 4096);
        }

        await using (var raid = await array.OpenAsync())
        {
            await expected.AssertReadsBackAsync(raid);
            array.AssertParityConsistent(raid.Metadata);
        }
    }
}
