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
/// A rebuild cut short by a stop resumes at the next open from its last checkpoint
/// (raid5.sync.checkpoint-interval, md's recovery_offset), not from the first row, and completes
/// with every row consistent and every byte as written, before and after the stop. The stop comes
/// while a rebuild write is in flight (held on the spare), as it almost always does on a busy array.
/// </summary>
public sealed class RebuildResumeSpec(ITestOutputHelper output) : IDisposable
{
    private const int kMembers = 3;
    private const int kSpare = kMembers;
    private const int kChunkBytes = 4096;
    private const long kRows = 128;
    private const long kSpeedBytes = 256 << 10; // 64 rows/s: 2 s for the whole member
    private const long kStopAfterRows = 40;
    private const int kCheckpointRowsSlack = 16; // 64 rows/s x 100 ms between checkpoints, the rows in flight, and margin
    private static readonly TimeSpan kTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan kCleanStop = TimeSpan.FromSeconds(5);

    private readonly TemporaryFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task A_rebuild_stopped_part_way_resumes_from_its_checkpoint_at_the_next_open_and_completes()
    {
        var seed = TestArrays.Seed(output, "rebuild resume");
        var failedRole = (int)((uint)seed % kMembers);
        var folder = _temp.PathOf("array");
        var files = new FileMemberStoreProvider(folder);
        var gate = new GatedMemberStoreProvider(files);
        var config = RebuildUnderLoadSpec.SlowSyncConfig(speedMinBytes: kSpeedBytes, speedMaxBytes: kSpeedBytes, checkpointInterval: "100ms")
            .WithFallback(ArrayUnderTest.kQuietBitmapDaemon);
        var options = new Raid5ArrayOptions { Members = gate, Config = config };
        var create = new Raid5CreateOptions(kMembers, MemberSuperblock.kDefaultDataOffsetBytes + kRows * kChunkBytes, kChunkBytes, Raid5Layout.LeftAsymmetric, 64 << 10, Spares: 1);
        ArrayMetadata metadata;
        ExpectedDevice expected;
        long doneBeforeStop;

        var raid = await Raid5Array.CreateAsync(folder, create, options);
        var stopping = new Stopwatch();
        try
        {
            metadata = raid.Metadata;
            expected = new ExpectedDevice(raid.CapacityBytes, seed);
            for (long offset = 0; offset < raid.CapacityBytes; offset += 128 << 10)
                await expected.WriteAsync(raid, offset, 128 << 10);

            await raid.FailMemberAsync(failedRole);
            await WriteSomeRows(raid, expected, count: 4);
            await StatusPolling.Until(raid, s => s.Sync is { DoneRows: >= kStopAfterRows }, kTimeout, $"{kStopAfterRows} rows rebuilt");
            await gate.HoldAsync(kSpare, GatedOperation.Write);
            var running = await raid.GetStatusAsync();
            doneBeforeStop = running.Sync!.DoneRows;
            output.WriteLine($"stopping with a rebuild write held on the spare: {running}");
            Assert.True(doneBeforeStop < kRows, $"the rebuild ran too fast to be stopped part way: {running.Sync}");
        }
        finally
        {
            stopping.Start();
            var disposing = raid.DisposeAsync().AsTask();
            await gate.Release();
            await disposing;
        }
        Assert.True(stopping.Elapsed < kCleanStop,
            $"seed {seed}: stopping during the rebuild took {stopping.Elapsed.TotalMilliseconds:F0} ms: the stop was never answered "
            + "although the rebuild rows in flight completed (the facade gave up after twice raid5.request-timeout)");

        ArrayStatus final;
        await using (raid = await Raid5Array.OpenAsync(folder, options))
        {
            var resumed = await StatusPolling.Until(raid, s => s.Sync is not null || s.LastSync is not null, kTimeout, "rebuilding again");
            output.WriteLine($"reopened: {resumed}");
            var pass = resumed.Sync ?? resumed.LastSync!;
            var resumedAt = kRows - pass.TotalRows;
            Assert.Equal((SyncKind.Recover, failedRole), (pass.Kind, pass.TargetRole));
            Assert.Equal((kSpare, "rebuilding"), resumed.Members.Where(m => m.Role == failedRole).Select(m => (m.Device, m.State)).Single());
            Assert.True(resumedAt > 0, $"seed {seed}: the rebuild started again from row 0 ({pass})");
            Assert.True(resumedAt >= doneBeforeStop - kCheckpointRowsSlack,
                $"seed {seed}: resumed at row {resumedAt}, more than {kCheckpointRowsSlack} rows before the {doneBeforeStop} rows done at the stop");

            await WriteSomeRows(raid, expected, count: 4);
            final = await StatusPolling.Until(raid, s => s.State == "active" && s.LastSync is { Kind: SyncKind.Recover }, kTimeout, "rebuilt after the reopen");
            output.WriteLine(final.ToString());
            Assert.Equal((pass.TotalRows, pass.TotalRows), (final.LastSync!.DoneRows, final.LastSync.TotalRows));
            Assert.Null(final.LastSyncFailure);
            Assert.All(final.Members, m => Assert.Equal("in-sync", m.State));
            Assert.Equal(kSpare, final.Members.Single(m => m.Role == failedRole).Device);
            await expected.AssertReadsBackAsync(raid);
        }

        var areas = RoleImages.Read(files, metadata, RoleImages.DevicesByRole(final));
        Assert.Empty(MemberImage.InconsistentRows(metadata.Geometry, areas));
        RoleImages.AssertHoldsReconstruction(areas, failedRole, $"seed {seed}: the rebuilt member");
        Assert.True(MemberImage.Assemble(metadata.Geometry, areas).AsSpan().SequenceEqual(expected.Slice(0, (int)expected.CapacityBytes).Span), $"seed {seed}: members do not hold the expected device");
    }

    /// <summary>Whole rows anywhere on the device, so writes land on both sides of the rebuild position.</summary>
    private static async Task WriteSomeRows(Raid5Array raid, ExpectedDevice expected, int count)
    {
        var rowBytes = (int)raid.Geometry.RowDataBytes;
        for (var i = 0; i < count; i++)
            await expected.WriteAsync(raid, expected.Random.NextInt64(kRows) * rowBytes, rowBytes);
    }
}
