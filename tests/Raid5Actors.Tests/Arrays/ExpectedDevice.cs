using Raid5Actors.Geometry;
using Xunit.Abstractions;

namespace Raid5Actors.Tests.Arrays;

/// <summary>
/// What a logical device must hold: a copy of every byte a spec wrote to it (never-written bytes are
/// zero, as on freshly created members). The bytes come from one seed, printed so that a failure
/// replays with <c>RAID5_TEST_SEED=n</c>.
/// </summary>
internal sealed class ExpectedDevice
{
    private const string kSeedVariable = "RAID5_TEST_SEED";
    private const int kReadPieceBytes = 1 << 20;

    private readonly byte[] _bytes;

    public ExpectedDevice(long capacityBytes, int seed)
    {
        _bytes = new byte[checked((int)capacityBytes)];
        Random = new Random(seed);
    }

    /// <summary>Drives both the data and the ranges a spec picks, so one seed replays the whole run.</summary>
    public Random Random { get; }

    public long CapacityBytes => _bytes.LongLength;

    public static int NewSeed(ITestOutputHelper output)
    {
        var fixedSeed = Environment.GetEnvironmentVariable(kSeedVariable);
        var seed = fixedSeed is null ? Random.Shared.Next() : int.Parse(fixedSeed);
        output.WriteLine($"seed {seed} (replay with {kSeedVariable}={seed})");
        return seed;
    }

    public ReadOnlyMemory<byte> Slice(long offsetBytes, int lengthBytes) => _bytes.AsMemory(checked((int)offsetBytes), lengthBytes);

    /// <summary>Fills the range with fresh random bytes, here and on the array.</summary>
    public Task WriteAsync(Raid5Array array, long offsetBytes, int lengthBytes, bool fua = false)
    {
        var range = _bytes.AsSpan(checked((int)offsetBytes), lengthBytes);
        Random.NextBytes(range);
        return array.WriteAsync(offsetBytes, Slice(offsetBytes, lengthBytes), fua);
    }

    /// <summary>Reads the whole device and checks every byte, naming the first one that differs.</summary>
    public async Task AssertReadsBackAsync(Raid5Array array, int pieceBytes = kReadPieceBytes)
    {
        Assert.Equal(CapacityBytes, array.CapacityBytes);
        var piece = new byte[Math.Min(pieceBytes, _bytes.Length)];
        for (long offset = 0; offset < CapacityBytes; offset += piece.Length)
        {
            var length = (int)Math.Min(piece.Length, CapacityBytes - offset);
            await array.ReadAsync(offset, piece.AsMemory(0, length));
            AssertSame(offset, Slice(offset, length).Span, piece.AsSpan(0, length));
        }
    }

    /// <summary>Sector-aligned ranges that touch the edges a RAID5 mapping gets wrong first, then random ones.</summary>
    public IEnumerable<(long OffsetBytes, int LengthBytes)> InterestingRanges(ArrayGeometry geometry, int randomCount)
    {
        const int kSector = ArrayGeometry.kSectorBytes;
        var capacity = geometry.CapacityBytes;
        var chunk = geometry.ChunkBytes;
        var row = checked((int)geometry.RowDataBytes);
        yield return (0, kSector);
        yield return (capacity - kSector, kSector);
        yield return (capacity - row - kSector, row + kSector);
        yield return (chunk - kSector, 2 * kSector);
        yield return (row - kSector, 2 * kSector);
        yield return (chunk + kSector, 3 * chunk);
        yield return (row, row);
        for (var i = 0; i < randomCount; i++)
        {
            var lengthSectors = 1 + Random.NextInt64(Math.Min(3L * row, capacity) / kSector);
            var length = (int)(lengthSectors * kSector);
            // Every fourth range ends at the very end of the device.
            var offset = i % 4 == 0 ? capacity - length : Random.NextInt64((capacity - length) / kSector + 1) * kSector;
            yield return (offset, length);
        }
    }

    private static void AssertSame(long offsetBytes, ReadOnlySpan<byte> expected, ReadOnlySpan<byte> actual)
    {
        var same = expected.CommonPrefixLength(actual);
        if (same < expected.Length)
            Assert.Fail($"byte {offsetBytes + same} of the device is 0x{actual[same]:x2}, expected 0x{expected[same]:x2}");
    }
}
