using Akka.Actor;
using Akka.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Raid5Actors.Arrays;
using Raid5Actors.Configuration;
using Raid5Actors.Disks;
using Raid5Actors.Hosting;
using Raid5Actors.Persistence;
using Raid5Actors.Tests.Arrays;
using Xunit.Abstractions;

namespace Raid5Actors.Tests.Hosting;

/// <summary>An array started by Akka.Hosting inside an application's ActorSystem, wrapped with <see cref="Raid5Array.AttachAsync"/>.</summary>
public sealed class HostingSpec(ITestOutputHelper output) : IDisposable
{
    private const long kMemberBytes = 8 << 20;

    private readonly TemporaryFolder _temp = new();

    private string Folder => _temp.PathOf("array");

    private string DatabasePath => Raid5ArrayConfig.DatabasePath(Folder, Raid5Settings.Create());

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task A_hosted_array_serves_IO_in_the_application_system_and_keeps_its_bytes_across_a_host_restart()
    {
        var create = new Raid5HostingOptions(Folder) { CreateIfMissing = new Raid5CreateOptions(4, kMemberBytes) };
        ExpectedDevice expected;
        Guid arrayId;

        await using (var host = await StartHostAsync(create))
        {
            var system = host.Services.GetRequiredService<ActorSystem>();
            var raid = await AttachAsync(host);
            Assert.Equal(3 * (kMemberBytes - MemberSuperblock.kDefaultDataOffsetBytes), raid.CapacityBytes);
            expected = new ExpectedDevice(raid.CapacityBytes, ExpectedDevice.NewSeed(output));
            foreach (var (offset, length) in expected.InterestingRanges(raid.Geometry, randomCount: 8))
                await expected.WriteAsync(raid, offset, length);
            await raid.FlushAsync();
            await expected.AssertReadsBackAsync(raid);

            var status = await raid.GetStatusAsync();
            output.WriteLine(status.ToString());
            Assert.Equal("active", status.State);
            Assert.Equal(4, status.Geometry.MemberCount);
            Assert.All(status.Members, m => Assert.Equal("in-sync", m.State));
            arrayId = status.ArrayId;

            await raid.DisposeAsync();
            Assert.False(system.WhenTerminated.IsCompleted, "disposing an attached array stopped the application's ActorSystem");
            await host.StopAsync();
            Assert.True(system.WhenTerminated.IsCompleted, "stopping the host left the ActorSystem running");
        }
        SqlitePersistence.ReleaseDatabase(DatabasePath);

        await using (var host = await StartHostAsync(new Raid5HostingOptions(Folder)))
        {
            await using var raid = await AttachAsync(host);
            await expected.AssertReadsBackAsync(raid);

            var status = await raid.GetStatusAsync();
            output.WriteLine(status.ToString());
            Assert.Equal("active", status.State);
            Assert.Equal(arrayId, status.ArrayId);
            Assert.Equal(expected.CapacityBytes, status.CapacityBytes);
            Assert.NotNull(status.Bitmap);
            Assert.Equal(0, status.Bitmap.PendingResyncChunks);
        }
        SqlitePersistence.ReleaseDatabase(DatabasePath);
    }

    [Fact]
    public async Task Stopping_the_host_stops_the_hosted_array_cleanly_leaving_nothing_to_resync()
    {
        // The application never disposes the wrapper: the host owns the array's lifetime.
        var create = new Raid5HostingOptions(Folder)
        {
            CreateIfMissing = new Raid5CreateOptions(4, kMemberBytes),
            Config = ArrayUnderTest.kQuietBitmapDaemon,
        };
        ExpectedDevice expected;
        await using (var host = await StartHostAsync(create))
        {
            var raid = await AttachAsync(host);
            expected = new ExpectedDevice(raid.CapacityBytes, ExpectedDevice.NewSeed(output));
            await expected.WriteAsync(raid, 64 << 10, 128 << 10);
            var running = await raid.GetStatusAsync();
            Assert.NotNull(running.Bitmap);
            Assert.True(running.Bitmap.DurableChunks > 0, $"the write left no durable bitmap bit: {running}");
        }
        SqlitePersistence.ReleaseDatabase(DatabasePath);

        await using (var host = await StartHostAsync(new Raid5HostingOptions(Folder) { Config = ArrayUnderTest.kQuietBitmapDaemon }))
        {
            await using var raid = await AttachAsync(host);
            await expected.AssertReadsBackAsync(raid);
            var status = await raid.GetStatusAsync();
            output.WriteLine(status.ToString());
            Assert.NotNull(status.Bitmap);
            Assert.Equal(0, status.Bitmap.PendingResyncChunks);
        }
        SqlitePersistence.ReleaseDatabase(DatabasePath);
    }

    [Fact]
    public async Task Without_CreateIfMissing_an_empty_folder_fails_the_host_start_and_creates_nothing()
    {
        var error = await Assert.ThrowsAsync<Raid5OpenException>(() => StartHostAsync(new Raid5HostingOptions(Folder)));

        output.WriteLine(error.Message);
        Assert.Contains("holds no array", error.Message);
        Assert.Contains(DatabasePath, error.Message);
        Assert.False(Directory.Exists(Folder), "a refused open created the array folder");
    }

    private static Task<TestHost> StartHostAsync(Raid5HostingOptions options) =>
        TestHost.StartAsync(services => services.AddAkka("app", (builder, _) => builder.WithRaid5Array(options)));

    private static Task<Raid5Array> AttachAsync(TestHost host)
    {
        var system = host.Services.GetRequiredService<ActorSystem>();
        var registry = host.Services.GetRequiredService<ActorRegistry>();
        return Raid5Array.AttachAsync(system, registry.Get<Raid5ArrayActor>());
    }
}
