using System.Text.RegularExpressions;
using Raid5Actors.Tests.Arrays;
using Xunit.Abstractions;

namespace Raid5Actors.Tests.Cli;

/// <summary>
/// What a user sees before any array work: every command's <c>--help</c>, and for a bad command line
/// one clear message on stderr (nothing on stdout) with exit code 2, or 1 when the engine refuses
/// the request. Cases that need an array share one (<see cref="SharedArray"/>), which none of them changes.
/// </summary>
public sealed class CliUsageSpec(ITestOutputHelper output, CliUsageSpec.SharedArray shared) : IClassFixture<CliUsageSpec.SharedArray>, IDisposable
{
    private const string kConfigOptions = "--config --set --verbose --help";

    private readonly TemporaryFolder _temp = new();
    private readonly Raid5Command _raid5 = new(output);

    public void Dispose() => _temp.Dispose();

    [Theory]
    [InlineData("", "raid5 [command] [options]", "--help --version")]
    [InlineData("create", "raid5 create <DIR> [options]", "--members --member-size --layout --chunk --spares --bitmap-chunk --json " + kConfigOptions)]
    [InlineData("assemble", "raid5 assemble <DIR> [options]", "--allow-degraded --force --json " + kConfigOptions)]
    [InlineData("detail", "raid5 detail <DIR> [options]", "--json " + kConfigOptions)]
    [InlineData("examine", "raid5 examine <IMAGE> [options]", "--json --verbose --help")]
    [InlineData("status", "raid5 status <DIR> [options]", "--json " + kConfigOptions)]
    [InlineData("fail", "raid5 fail <DIR> <INDEX> [options]", "--allow-degraded --force " + kConfigOptions)]
    [InlineData("remove", "raid5 remove <DIR> <INDEX> [options]", "--allow-degraded --force " + kConfigOptions)]
    [InlineData("add", "raid5 add <DIR> [options]", "--device --no-wait --allow-degraded --force " + kConfigOptions)]
    [InlineData("check", "raid5 check <DIR> [options]", "--no-wait --allow-degraded --force " + kConfigOptions)]
    [InlineData("repair", "raid5 repair <DIR> [options]", "--no-wait --allow-degraded --force " + kConfigOptions)]
    [InlineData("serve", "raid5 serve [<DIR>] [options]", "--md --bind --port --export-name --allow-degraded --force " + kConfigOptions)]
    public async Task Help_exits_0_and_prints_the_usage_and_every_option(string command, string usage, string options)
    {
        var result = await _raid5.RunAsync(command.Length == 0 ? ["--help"] : [command, "--help"]);

        Assert.Equal(0, result.ExitCode);
        Assert.Empty(result.Stderr);
        Assert.Contains("Usage:", result.Stdout);
        Assert.Contains(usage, result.Stdout);
        foreach (var option in options.Split(' '))
            Assert.True(Regex.IsMatch(result.Stdout, $@"(?m)^\s+(-\w, |-\?, -h, )?{Regex.Escape(option)}( |$)"), $"{option} is not listed\n{result}");
    }

    [Fact]
    public async Task Root_help_lists_every_command()
    {
        var result = await _raid5.RunOkAsync("--help");

        foreach (var command in new[] { "create", "assemble", "detail", "examine", "status", "fail", "remove", "add", "check", "repair", "serve" })
            Assert.Matches($@"(?m)^\s+{command} <", result.Stdout);
    }

    /// <summary>{array}: the shared array (3 members); {empty}: a folder holding nothing; {new}: a path that does not exist yet.</summary>
    [Theory]
    [InlineData("frobnicate", 2, new[] { "Unrecognized command or argument 'frobnicate'", "Try 'raid5 --help'" })]
    [InlineData("create {new} --member-size 10M", 2, new[] { "--members", "is required", "Try 'raid5 create --help'" })]
    [InlineData("create {new} --members 3 --member-size 12Q", 2, new[] { "--member-size 12Q: not a size", "Try 'raid5 create --help'" })]
    [InlineData("create {new} --members 3 --member-size 10M --layout zigzag", 2, new[] { "--layout zigzag: unknown layout", "left-symmetric" })]
    [InlineData("create {new} --members 2 --member-size 10M", 1, new[] { "3 to 16 members", "not 2" })]
    [InlineData("fail {array} 9", 1, new[] { "role 9 does not exist", "0 to 2" })]
    [InlineData("fail {array} one", 2, new[] { "'one'", "Try 'raid5 fail --help'" })]
    [InlineData("serve", 2, new[] { "either DIR or --md", "Try 'raid5 serve --help'" })]
    [InlineData("serve {array} --bind nowhere --port 0", 2, new[] { "--bind nowhere: not an IP address" })]
    [InlineData("examine {new}/member-00.img", 2, new[] { "member-00.img: no such file" })]
    [InlineData("status {empty}", 1, new[] { "holds no array", "array.db is missing" })]
    [InlineData("status {array} --set raid5.sync.speed-max", 2, new[] { "--set takes KEY=VALUE", "raid5.sync.speed-max" })]
    [InlineData("status {array} --config {new}/none.conf", 2, new[] { "none.conf does not exist" })]
    [InlineData("add {array} --no-wait", 2, new[] { "--no-wait needs a process serving", "Try 'raid5 add --help'" })]
    [InlineData("add {array} --device 99", 1, new[] { "device 99 does not exist", "0 to 63" })]
    [InlineData("add {array} --device 7", 1, new[] { "device 7", "does not exist; to add a new blank device, give no device number" })]
    [InlineData("examine {array}", 2, new[] { "is a folder; examine takes one member file" })]
    public async Task A_bad_command_line_exits_non_zero_with_a_clear_message_on_stderr(string commandLine, int exitCode, string[] words)
    {
        var result = await _raid5.RunAsync(await ArgumentsAsync(commandLine));

        Assert.True(result.ExitCode == exitCode, $"expected exit {exitCode}\n{result}");
        // Scripts read stdout: a refusal puts nothing there, not even a log line of the engine's.
        Assert.Empty(result.Stdout);
        foreach (var word in words)
            Assert.Contains(word, result.Stderr);
        if (exitCode == 1)
            Assert.StartsWith($"raid5 {commandLine.Split(' ')[0]}: error: ", result.Stderr);
        Assert.DoesNotContain("   at ", result.Stderr);
        Assert.Equal(SharedArray.kFingerprintUnchanged, await shared.FingerprintChangedAsync());
    }

    [Fact]
    public async Task A_create_the_engine_refuses_leaves_no_folder_behind()
    {
        var dir = _temp.PathOf("refused");

        var result = await _raid5.RunAsync("create", dir, "--members", "2", "--member-size", "10M");

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("3 to 16 members", result.Stderr);
        Assert.False(Directory.Exists(dir), $"the refused create left the folder {dir} behind (holding: {string.Join(", ", Directory.Exists(dir) ? Directory.EnumerateFileSystemEntries(dir) : Array.Empty<string>())})");
    }

    [Fact]
    public async Task A_member_size_smaller_than_the_superblock_area_is_refused_naming_the_size_given_not_a_negative_data_area()
    {
        var dir = _temp.PathOf("tiny");

        var result = await _raid5.RunAsync("create", dir, "--members", "3", "--member-size", "100K");

        Assert.NotEqual(0, result.ExitCode);
        Assert.Empty(result.Stdout);
        Assert.DoesNotMatch(@"-\d+ bytes", result.Stderr);
        Assert.True(result.Stderr.Contains("100K", StringComparison.Ordinal) || result.Stderr.Contains("102400", StringComparison.Ordinal),
            $"the refusal does not name the member size given (100K = 102400 bytes)\n{result}");
    }

    [Fact]
    public async Task Refusing_a_role_that_does_not_exist_does_not_show_the_dotnet_parameter_name()
    {
        var result = await _raid5.RunAsync("fail", await shared.FolderAsync(_raid5), "9");

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("role 9 does not exist: the array has roles 0 to 2", result.Stderr);
        Assert.DoesNotContain("(Parameter '", result.Stderr);
    }

    private async Task<string[]> ArgumentsAsync(string commandLine)
    {
        var words = commandLine.Split(' ');
        var arguments = new string[words.Length];
        for (var i = 0; i < words.Length; i++)
        {
            arguments[i] = words[i]
                .Replace("{new}", _temp.PathOf("new"), StringComparison.Ordinal)
                .Replace("{empty}", Directory.CreateDirectory(_temp.PathOf("empty")).FullName, StringComparison.Ordinal);
            if (arguments[i] == "{array}")
                arguments[i] = await shared.FolderAsync(_raid5);
        }
        return arguments;
    }

    /// <summary>One 3-member array for the whole class, created by the CLI on first use; its member files are fingerprinted to prove the refusals wrote nothing.</summary>
    public sealed class SharedArray : IDisposable
    {
        public const string kFingerprintUnchanged = "unchanged";

        private readonly TemporaryFolder _temp = new();
        private readonly SemaphoreSlim _gate = new(1, 1);
        private string? _fingerprint;

        public string Folder => _temp.PathOf("array");

        internal async Task<string> FolderAsync(Raid5Command raid5)
        {
            await _gate.WaitAsync();
            try
            {
                if (_fingerprint is null)
                {
                    await raid5.RunOkAsync("create", Folder, "--members", "3", "--member-size", "5M", "--chunk", "64K");
                    _fingerprint = Fingerprint();
                }
                return Folder;
            }
            finally
            {
                _gate.Release();
            }
        }

        /// <summary><see cref="kFingerprintUnchanged"/> when the members hold the bytes they held after create (or no array was made yet); else what changed.</summary>
        public async Task<string> FingerprintChangedAsync()
        {
            await _gate.WaitAsync();
            try
            {
                var now = _fingerprint is null ? null : Fingerprint();
                return now == _fingerprint ? kFingerprintUnchanged : $"member bytes changed: was {_fingerprint}, now {now}";
            }
            finally
            {
                _gate.Release();
            }
        }

        public void Dispose()
        {
            _gate.Dispose();
            _temp.Dispose();
        }

        private string Fingerprint() => string.Join(' ', Directory.EnumerateFiles(Folder, "member-*.img").Order(StringComparer.Ordinal)
            .Select(path => $"{Path.GetFileName(path)}:{Raid5Actors.Tests.Nbd.TestData.Sha256(File.ReadAllBytes(path))[..16]}"));
    }
}
