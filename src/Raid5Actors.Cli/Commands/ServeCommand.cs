using System.CommandLine;
using System.Net;
using Akka.Configuration;
using Raid5Actors.Cli.Control;
using Raid5Actors.Cli.Output;
using Raid5Actors.Md;
using Raid5Actors.Nbd;
using Serilog;
using Serilog.Events;

namespace Raid5Actors.Cli.Commands;

/// <summary>
/// <c>serve</c>: open the array and serve it over NBD until Ctrl-C or SIGTERM, with a control socket
/// through which the other commands manage it meanwhile; then stop it cleanly. <c>serve --md</c>
/// serves a Linux md RAID5 array read-only from its member images.
/// </summary>
internal static class ServeCommand
{
    public static Command Build()
    {
        var folder = new Argument<string?>("DIR") { Description = "The array folder to serve (omit with --md)", Arity = ArgumentArity.ZeroOrOne };
        var md = new Option<string[]>("--md")
        {
            Description = "Serve a Linux md RAID5 array read-only, assembled from these member images (md v1.2 superblocks)",
            HelpName = "IMAGE",
            AllowMultipleArgumentsPerToken = true,
        };
        var bind = new Option<string>("--bind") { Description = "Address to listen on (default from raid5.serve.bind: 127.0.0.1)", HelpName = "ADDRESS" };
        var port = new Option<int?>("--port", "-p") { Description = "TCP port; 0 picks a free one (default from raid5.serve.port: 10809)", HelpName = "PORT" };
        var exportName = new Option<string>("--export-name") { Description = "Export name besides the default export \"\" (default from raid5.serve.export-name: raid5)", HelpName = "NAME" };
        var command = new Command("serve", "Serve the array over NBD (nbd://ADDRESS:PORT/) until interrupted; other raid5 commands manage it meanwhile")
        {
            folder, md, bind, port, exportName, CommonOptions.AllowDegraded, CommonOptions.Force,
        }.WithConfiguration();
        command.Validators.Add(result =>
        {
            var hasFolder = result.GetValue(folder) is not null;
            var hasMd = (result.GetValue(md) ?? []).Length > 0;
            if (hasFolder == hasMd)
                result.AddError("serve takes either DIR or --md IMAGE... (one of them)");
        });
        command.SetRunner(async session =>
        {
            var parse = session.Parse;
            var dir = parse.GetValue(folder);
            var config = session.LoadConfig(dir);
            var options = NbdOptions(config, parse.GetValue(bind), parse.GetValue(port), parse.GetValue(exportName));
            return dir is not null
                ? await ServeArrayAsync(session, dir, config, options).ConfigureAwait(false)
                : await ServeMdAsync(session, parse.GetValue(md)!, options).ConfigureAwait(false);
        }, quietLevel: LogEventLevel.Information);
        return command;
    }

    private static async Task<int> ServeArrayAsync(CliSession session, string folder, Config config, NbdServerOptions options)
    {
        var array = await Raid5Array.OpenAsync(folder, new Raid5ArrayOptions
        {
            Config = config,
            AllowDegraded = session.Parse.GetValue(CommonOptions.AllowDegraded),
            Force = session.Parse.GetValue(CommonOptions.Force),
        }).ConfigureAwait(false);
        await using (array.ConfigureAwait(false))
        {
            var server = NbdServer.Start(array, options);
            await using (server.ConfigureAwait(false))
            {
                var export = $"nbd://{Uri(server.LocalEndPoint)}/";
                var handle = new LocalArrayHandle(array, folder, new ServedDocument(Environment.ProcessId, Environment.MachineName, export), ownsArray: false);
                var control = ControlServer.Start(folder, handle, Log.ForContext<ControlServer>());
                await using (control.ConfigureAwait(false))
                {
                    var status = await handle.StatusAsync(session.Cancellation).ConfigureAwait(false);
                    await session.Out.WriteAsync(StatusText.Mdstat(status)).ConfigureAwait(false);
                    await session.Out.WriteLineAsync($"raid5: serving {status.Folder} at {export} (export \"\" or \"{options.ExportName}\"); "
                        + $"control socket {control.SocketPath}; stop with Ctrl-C").ConfigureAwait(false);
                    await session.Out.FlushAsync().ConfigureAwait(false);
                    await WaitForStopAsync(session.Cancellation).ConfigureAwait(false);
                    await session.Out.WriteLineAsync("raid5: stopping: finishing requests, flushing members").ConfigureAwait(false);
                }
            }
        }
        await session.Out.WriteLineAsync("raid5: stopped").ConfigureAwait(false);
        return ExitCodes.kOk;
    }

    private static async Task<int> ServeMdAsync(CliSession session, string[] images, NbdServerOptions options)
    {
        var md = MdArray.Open(images, new MdAssemblyOptions { Force = session.Parse.GetValue(CommonOptions.Force) });
        await using (md.ConfigureAwait(false))
        {
            await session.Out.WriteAsync(md.Report.ToText()).ConfigureAwait(false);
            var server = NbdServer.Start(md, options with { Description = $"Linux md RAID5 array {md.Report.ArrayUuid} (read-only)" });
            await using (server.ConfigureAwait(false))
            {
                var export = $"nbd://{Uri(server.LocalEndPoint)}/";
                await session.Out.WriteLineAsync($"raid5: serving md array {md.Report.ArrayUuid} read-only at {export} (export \"\" or \"{options.ExportName}\"); stop with Ctrl-C").ConfigureAwait(false);
                await session.Out.FlushAsync().ConfigureAwait(false);
                await WaitForStopAsync(session.Cancellation).ConfigureAwait(false);
            }
        }
        await session.Out.WriteLineAsync("raid5: stopped").ConfigureAwait(false);
        return ExitCodes.kOk;
    }

    private static async Task WaitForStopAsync(CancellationToken stop)
    {
        try
        {
            await Task.Delay(Timeout.Infinite, stop).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Ctrl-C or SIGTERM: the normal way to stop serving.
        }
    }

    private static NbdServerOptions NbdOptions(Config config, string? bind, int? port, string? exportName)
    {
        var serve = config.GetConfig("raid5.serve");
        var address = bind ?? serve.GetString("bind");
        if (!IPAddress.TryParse(address, out var ip))
            throw new CliUsageException($"--bind {address}: not an IP address (e.g. 127.0.0.1 or ::1)");
        var trim = serve.GetString("trim") switch
        {
            "write-zeroes" => NbdTrimMode.WriteZeroes,
            "ignore" => NbdTrimMode.Ignore,
            var other => throw new CliUsageException($"raid5.serve.trim = {other}: use write-zeroes or ignore"),
        };
        var options = new NbdServerOptions
        {
            BindAddress = ip,
            Port = port ?? serve.GetInt("port"),
            ExportName = exportName ?? serve.GetString("export-name"),
            MaxConnections = serve.GetInt("max-connections"),
            Trim = trim,
        };
        try
        {
            options.Validate();
        }
        catch (ArgumentException e)
        {
            throw new CliUsageException(e.Message);
        }
        return options;
    }

    private static string Uri(IPEndPoint endpoint) =>
        endpoint.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{endpoint.Address}]:{endpoint.Port}" : endpoint.ToString();
}
