using Raid5Actors.Arrays;
using Raid5Actors.Geometry;
using Xunit.Abstractions;

namespace Raid5Actors.Tests.Arrays;

public sealed class ZzParityProbeSpec(ITestOutputHelper output) : IDisposable
{
    private readonly TemporaryFolder _temp = new();
    public void Dispose() => _temp.Dispose();

    [Theory]
    [InlineData(4, 16384, Raid5Layout.ParityFirst, 2L << 20, 65536, 1155235384)]
    [InlineData(5, 65536, Raid5Layout.RightAsymmetric, (3L << 20) + (12 << 10), 262144, 283851386)]
    [InlineData(3, 4096, Raid5Layout.LeftSymmetric, (3L << 19) + 3072, 16384, 5)]
    public async Task Probe(int members, int chunk, Raid5Layout layout, long memberBytes, long bitmapChunk, int seed)
    {
        var array = new ArrayUnderTest(_temp.PathOf("a"), MemberKind.Memory);
        await using var raid = await array.CreateAsync(new Raid5CreateOptions(members, memberBytes, chunk, layout, bitmapChunk));
        var expected = new ExpectedDevice(raid.CapacityBytes, seed);
        var i = 0;
        foreach (var (offset, length) in expected.InterestingRanges(raid.Geometry, 48))
        {
            var fua = expected.Random.Next(4) == 0;
            await expected.WriteAsync(raid, offset, length, fua);
            try { array.AssertParityConsistent(raid.Metadata); }
            catch (Exception e)
            {
                output.WriteLine($"write #{i} offset {offset} length {length} (row {offset / raid.Geometry.RowDataBytes}, inRow {offset % raid.Geometry.RowDataBytes}) breaks parity: {e.Message}");
                throw;
            }
            i++;
        }
    }
}
