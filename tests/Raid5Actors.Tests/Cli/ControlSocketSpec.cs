using System.Text;
using Raid5Actors.Tests.Arrays;
using Xunit.Abstractions;

namespace Raid5Actors.Tests.Cli;

/// <summary>
/// The other commands find the serving process through the folder alone: its control socket is
/// <c>DIR/raid5.sock</c>, or a hashed name in the temporary folder when that path is too long for a
/// Unix socket (about 100 bytes). However the user spells the folder, they must reach it.
/// </summary>
public sealed class ControlSocketSpec(ITestOutputHelper output) : IDisposable
{
    private readonly TemporaryFolder _temp = new();
    private readonly Raid5Command _raid5 = new(output);

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task A_served_folder_whose_socket_path_is_too_long_is_reached_with_or_without_a_trailing_slash()
    {
        var dir = _temp.PathOf(Path.Combine("an-array-folder-with-a-name-long-enough-to-move-the-socket", "array"));
        Assert.True(Encoding.UTF8.GetByteCount(Path.Combine(dir, "raid5.sock")) > 100, "the folder is too short to move the socket");
        await _raid5.RunOkAsync("create", dir, "--members", "3", "--member-size", "5M", "--chunk", "64K");
        await using var served = await ServedCli.StartAsync(output, dir);
        Assert.Matches(@"control socket /\S+/raid5-[0-9a-f]{16}\.sock;", served.Stdout);

        var plain = await _raid5.StatusJsonAsync(dir);
        Assert.Equal(served.ProcessId, plain.ServedBy()!.Value.GetProperty("processId").GetInt32());
        // What shell completion types: the folder with a trailing slash.
        var slashed = await _raid5.RunAsync("status", dir + "/", "--json");
        Assert.True(slashed.ExitCode == 0, $"status of {dir}/ did not reach the process serving {dir}\n{slashed}");
        Assert.Equal(served.ProcessId, Raid5Command.ParseJson(slashed).ServedBy()!.Value.GetProperty("processId").GetInt32());

        await served.StopAsync();
    }
}
