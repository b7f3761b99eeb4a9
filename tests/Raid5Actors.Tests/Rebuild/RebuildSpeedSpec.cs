using System.Diagnostics;
using Raid5Actors.Arrays;
using Raid5Actors.Disks;
using Raid5Actors.Geometry;
using Raid5Actors.Stripes;
using Raid5Actors.Tests.Arrays;
using Raid5Actors.Tests.Model;
using Xunit.Abstractions;

namespace Raid5Actors.Tests.Rebuild;

/// <summary>
/// raid5.sync.speed-max is what limits a rebuild of an idle array (md's sync_speed_max), not the
/// pacer's own bookkeeping: rows-in-flight bounds the rows out at once, not the rows per tick.
/// </summary>
public sealed class RebuildSpeedSpec(ITestOutputHelper output) : IDisposable
{
    private const int kMembers = 4;
    private const int kChunkBytes = 64 << 10;
    private const long kRows = 64; // 4 MiB per member
    private const long kSpeedBytes = 64L << 20; // 4 MiB in 62.5 ms
    private static readonly TimeSpan kTimeout = TimeSpan.FromSeconds(30);

    private readonly TemporaryFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task An_idle_rebuild_with_one_row_in_flight_runs_near_speed_max()
    {
        var seed = TestArrays.Seed(output, "idle rebuild speed");
        var failedRole = (int)((uint)seed % kMembers);
        var config = RebuildUnderLoadSpec.SlowSyncConfig(speedMinBytes: kSpeedBytes, speedMaxBytes: kSpeedBytes, checkpointInterval: "2s", rowsInFlight: 1);
        var array = new ArrayUnderTest(_temp.PathOf("array"), MemberKind.Memory, config);
        var create = new Raid5CreateOptions(kMembers, MemberSuperblock.kDefaultDataOffsetBytes + kRows * kChunkBytes, kChunkBytes, Raid5Layout.LeftSymmetric, kChunkBytes * 4L, Spares: 1);
        ArrayMetadata metadata;
        ArrayStatus final;
        await using (var raid = await array.CreateAsync(create))
        {
            metadata = raid.Metadata;
            var expected = new ExpectedDevice(raid.CapacityBytes, seed);
            for (long offset = 0; offset < raid.CapacityBytes; offset += 1 << 20)
                await expected.WriteAsync(raid, offset, 1 << 20);

            var stopwatch = Stopwatch.StartNew();
            await raid.FailMemberAsync(failedRole);
            final = await StatusPolling.Until(raid, s => s.State == "active" && s.LastSync is { Kind: SyncKind.Recover }, kTimeout, "rebuilt");
            var elapsed = stopwatch.Elapsed;
            output.WriteLine($"rebuilt {kRows * kChunkBytes >> 20} MiB in {elapsed.TotalMilliseconds:F0} ms: {final.LastSync}");
            Assert.Equal((kRows, kRows), (final.LastSync!.DoneRows, final.LastSync.TotalRows));

            // speed-max allows 62.5 ms. A pacer that refills at most rows-in-flight rows per 50 ms tick
            // caps this rebuild at 1.25 MiB/s: 3.2 s. Half of that is slack for a loaded machine.
            var ceiling = TimeSpan.FromSeconds(1.6);
            Assert.True(elapsed < ceiling,
                $"seed {seed}: rebuilding {kRows} rows of {kChunkBytes} bytes took {elapsed.TotalMilliseconds:F0} ms "
                + $"({kRows * kChunkBytes / elapsed.TotalSeconds / (1 << 20):F2} MiB/s) with speed-max {kSpeedBytes >> 20} MiB/s");
            await expected.AssertReadsBackAsync(raid);
        }

        var areas = RoleImages.Read(array.Members, metadata, RoleImages.DevicesByRole(final));
        Assert.Empty(MemberImage.InconsistentRows(metadata.Geometry, areas));
    }
}
