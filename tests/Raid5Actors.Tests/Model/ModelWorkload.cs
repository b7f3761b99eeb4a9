using Akka.Configuration;
using Raid5Actors.Arrays;
using Raid5Actors.Disks;
using Raid5Actors.Geometry;
using Raid5Actors.Parity;
using Xunit.Abstractions;

namespace Raid5Actors.Tests.Model;

/// <summary>
/// A seeded random workload against an array and a plain byte-array model of the logical device.
/// Operations go out in waves: every operation of a wave is issued before any is awaited, so they
/// are in flight together. Writes of a wave may overlap each other (the array applies them in the
/// order they were issued, and so does the model); a read never overlaps a write of its own wave,
/// because then either answer would be right.
/// </summary>
public sealed class ModelWorkload(Raid5Array array, int seed, ITestOutputHelper output)
{
    private readonly Random _random = new(seed);
    private readonly byte[] _model = new byte[array.CapacityBytes];
    private int _reads;
    private int _writes;

    public byte[] Model => _model;

    public async Task RunAsync(int operations)
    {
        var geometry = array.Geometry;
        var done = 0;
        var wave = 0;
        while (done < operations)
        {
            var ops = PlanWave(geometry, Math.Min(_random.Next(1, 9), operations - done));
            var tasks = ops.Select(op => op.IsWrite
                ? array.WriteAsync(op.Offset, op.Data, fua: _random.Next(50) == 0)
                : array.ReadAsync(op.Offset, op.Data)).ToArray();
            await Task.WhenAll(tasks);
            foreach (var op in ops.Where(o => o.IsWrite))
                op.Data.CopyTo(_model, op.Offset);
            foreach (var op in ops.Where(o => !o.IsWrite))
                AssertEqualsModel(op.Offset, op.Data, $"wave {wave}, read [{op.Offset}, +{op.Data.Length})");
            done += ops.Count;
            wave++;
        }
        output.WriteLine($"seed {seed}: {_writes} writes, {_reads} reads in {wave} waves");
    }

    /// <summary>Reads the whole device and compares it with the model.</summary>
    public async Task VerifyAllAsync()
    {
        var step = (int)Math.Min(array.CapacityBytes, 4 << 20);
        var buffer = new byte[step];
        for (long offset = 0; offset < array.CapacityBytes; offset += step)
        {
            var length = (int)Math.Min(step, array.CapacityBytes - offset);
            await array.ReadAsync(offset, buffer.AsMemory(0, length));
            AssertEqualsModel(offset, buffer.AsSpan(0, length).ToArray(), "final full read");
        }
    }

    private sealed record Op(bool IsWrite, long Offset, byte[] Data);

    private List<Op> PlanWave(ArrayGeometry geometry, int count)
    {
        var ops = new List<Op>(count);
        var sectors = geometry.CapacityBytes / ArrayGeometry.kSectorBytes;
        var maxSectors = (int)Math.Min(sectors, 3 * geometry.RowDataBytes / ArrayGeometry.kSectorBytes);
        while (ops.Count < count)
        {
            // Mostly small I/O, sometimes up to three rows.
            var lengthSectors = _random.Next(4) == 0 ? _random.Next(1, maxSectors + 1) : _random.Next(1, Math.Min(maxSectors, 16) + 1);
            var offset = _random.NextInt64(0, sectors - lengthSectors + 1) * ArrayGeometry.kSectorBytes;
            var length = lengthSectors * ArrayGeometry.kSectorBytes;
            var isWrite = _random.Next(100) < 60;
            if (isWrite)
            {
                if (ops.Any(o => !o.IsWrite && Overlaps(o, offset, length)))
                    continue;
                var data = new byte[length];
                _random.NextBytes(data);
                ops.Add(new Op(true, offset, data));
                _writes++;
            }
            else
            {
                if (ops.Any(o => o.IsWrite && Overlaps(o, offset, length)))
                    continue;
                ops.Add(new Op(false, offset, new byte[length]));
                _reads++;
            }
        }
        return ops;
    }

    private static bool Overlaps(Op op, long offset, int length) => op.Offset < offset + length && offset < op.Offset + op.Data.Length;

    private void AssertEqualsModel(long offset, byte[] actual, string what)
    {
        var expected = _model.AsSpan((int)offset, actual.Length);
        var mismatch = expected.CommonPrefixLength(actual);
        if (mismatch < actual.Length)
            Assert.Fail($"seed {seed}: {what}: first difference at logical byte {offset + mismatch} (expected {expected[mismatch]}, got {actual[mismatch]})");
    }
}

/// <summary>Checks the members' raw bytes: data where the md layout says it is, and parity of every row.</summary>
public static class MemberImage
{
    /// <summary>Data areas of all members, read raw (past the data offset).</summary>
    public static byte[][] ReadDataAreas(IMemberStoreProvider provider, ArrayMetadata metadata)
    {
        var areas = new byte[metadata.MemberCount][];
        for (var role = 0; role < metadata.MemberCount; role++)
        {
            using var store = provider.Open(role);
            areas[role] = new byte[metadata.MemberDataBytes];
            store.Read(metadata.DataOffsetBytes, areas[role]);
        }
        return areas;
    }

    /// <summary>Rows whose parity chunk is not the XOR of their data chunks.</summary>
    public static List<long> InconsistentRows(ArrayGeometry geometry, byte[][] areas)
    {
        var bad = new List<long>();
        var expected = new byte[geometry.ChunkBytes];
        var sources = new ReadOnlyMemory<byte>[geometry.DataMembers];
        for (long row = 0; row < geometry.RowCount; row++)
        {
            var offset = (int)(row * geometry.ChunkBytes);
            for (var d = 0; d < geometry.DataMembers; d++)
                sources[d] = areas[geometry.DataMember(row, d)].AsMemory(offset, geometry.ChunkBytes);
            XorParity.Compute(expected, sources);
            if (!expected.AsSpan().SequenceEqual(areas[geometry.ParityMember(row)].AsSpan(offset, geometry.ChunkBytes)))
                bad.Add(row);
        }
        return bad;
    }

    /// <summary>The logical device assembled from raw member bytes with the layout's mapping.</summary>
    public static byte[] Assemble(ArrayGeometry geometry, byte[][] areas)
    {
        var logical = new byte[geometry.CapacityBytes];
        for (long offset = 0; offset < geometry.CapacityBytes; offset += geometry.ChunkBytes)
        {
            var location = geometry.Locate(offset);
            areas[location.Member].AsSpan((int)location.MemberOffset, geometry.ChunkBytes).CopyTo(logical.AsSpan((int)offset));
        }
        return logical;
    }
}

/// <summary>Configuration for small test arrays: small bitmap chunks so batches carry several bits.</summary>
public static class TestArrays
{
    public static Config Config(long bitmapChunkBytes = 64 * 1024) => ConfigurationFactory.ParseString($$"""
        raid5 {
          bitmap.chunk-bytes = {{bitmapChunkBytes}}
          stripe-cache-size = 16
        }
        akka.loglevel = WARNING
        """);

    public static string NewFolder(string what)
    {
        var folder = Path.Combine(Path.GetTempPath(), "raid5-tests", $"{what}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(folder);
        return folder;
    }

    public static int Seed(ITestOutputHelper output, string test)
    {
        var fromEnvironment = Environment.GetEnvironmentVariable("RAID5_TEST_SEED");
        var seed = fromEnvironment is not null ? int.Parse(fromEnvironment) : Random.Shared.Next();
        output.WriteLine($"{test}: seed {seed} (replay with RAID5_TEST_SEED={seed})");
        return seed;
    }
}
