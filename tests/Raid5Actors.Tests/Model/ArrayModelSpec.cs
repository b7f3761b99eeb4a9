using Raid5Actors.Arrays;
using Raid5Actors.Disks;
using Raid5Actors.Geometry;
using Xunit.Abstractions;

namespace Raid5Actors.Tests.Model;

/// <summary>
/// The array behaves like a plain byte array: a seeded random workload, partly concurrent, for
/// every layout, 3/4/6 members and 4 KiB/64 KiB chunks. Every read equals the model; afterwards the
/// members hold the data exactly where md's layout puts it and every row's parity is the XOR of its data.
/// </summary>
public abstract class ArrayModelSpec(ITestOutputHelper output)
{
    private const int kOperations = 2000;

    public static TheoryData<Raid5Layout, int, int> Geometries()
    {
        var data = new TheoryData<Raid5Layout, int, int>();
        foreach (var layout in Enum.GetValues<Raid5Layout>())
        {
            foreach (var members in new[] { 3, 4, 6 })
            {
                foreach (var chunk in new[] { 4 * 1024, 64 * 1024 })
                    data.Add(layout, members, chunk);
            }
        }
        return data;
    }

    protected abstract IMemberStoreProvider NewProvider(string folder);

    protected async Task RandomWorkloadMatchesModel(Raid5Layout layout, int members, int chunkBytes)
    {
        var seed = TestArrays.Seed(output, $"{layout} n={members} chunk={chunkBytes}");
        var folder = TestArrays.NewFolder("model");
        try
        {
            var provider = NewProvider(folder);
            // 24 rows for 64 KiB chunks, 256 rows for 4 KiB: room for overlap and for many rows.
            var dataBytes = chunkBytes == 4096 ? 256L * chunkBytes : 24L * chunkBytes;
            var options = new Raid5ArrayOptions { Members = provider, Config = TestArrays.Config() };
            var create = new Raid5CreateOptions(members, MemberSuperblock.kDefaultDataOffsetBytes + dataBytes, chunkBytes, layout);
            ModelWorkload workload;
            ArrayMetadata metadata;
            await using (var array = await Raid5Array.CreateAsync(folder, create, options))
            {
                metadata = array.Metadata;
                workload = new ModelWorkload(array, seed, output);
                await workload.RunAsync(kOperations);
                await workload.VerifyAllAsync();
            }

            var areas = MemberImage.ReadDataAreas(provider, metadata);
            var geometry = metadata.Geometry;
            Assert.Empty(MemberImage.InconsistentRows(geometry, areas));
            var logical = MemberImage.Assemble(geometry, areas);
            Assert.True(logical.AsSpan().SequenceEqual(workload.Model), $"seed {seed}: member bytes do not hold the model at md's layout positions");
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}

public sealed class MemoryArrayModelSpec(ITestOutputHelper output) : ArrayModelSpec(output)
{
    protected override IMemberStoreProvider NewProvider(string folder) => new MemoryMemberStoreProvider();

    [Theory]
    [MemberData(nameof(Geometries))]
    public Task Random_workload_on_memory_members_matches_the_model(Raid5Layout layout, int members, int chunkBytes) =>
        RandomWorkloadMatchesModel(layout, members, chunkBytes);
}

public sealed class FileArrayModelSpec(ITestOutputHelper output) : ArrayModelSpec(output)
{
    protected override IMemberStoreProvider NewProvider(string folder) => new FileMemberStoreProvider(folder);

    [Theory]
    [MemberData(nameof(Geometries))]
    public Task Random_workload_on_file_members_matches_the_model(Raid5Layout layout, int members, int chunkBytes) =>
        RandomWorkloadMatchesModel(layout, members, chunkBytes);
}
