using Akka;
using Akka.Actor;
using Akka.Configuration;
using Akka.Hosting;
using Raid5Actors.Arrays;
using Raid5Actors.Configuration;
using Raid5Actors.Disks;
using Raid5Actors.Persistence;

namespace Raid5Actors.Hosting;

/// <summary>Key of the array actor in Akka.Hosting's <see cref="ActorRegistry"/> (<c>IRequiredActor&lt;Raid5ArrayActor&gt;</c>).</summary>
public sealed class Raid5ArrayActor;

/// <summary>An array hosted in an application's own ActorSystem.</summary>
/// <param name="Folder">The array folder (journal, and member files unless <see cref="Members"/> says otherwise).</param>
public sealed record Raid5HostingOptions(string Folder)
{
    /// <summary>Actor name and journal plugin name; a plain word. Default "raid5".</summary>
    public string Name { get; init; } = "raid5";

    public IMemberStoreProvider? Members { get; init; }

    /// <summary>Create the array with these options when the folder holds none yet; null to require an existing array.</summary>
    public Raid5CreateOptions? CreateIfMissing { get; init; }

    /// <summary>Overrides of <c>raid5 { }</c>, applied to this array.</summary>
    public Config? Config { get; init; }
}

public static class Raid5HostingExtensions
{
    /// <summary>
    /// Starts an array inside the application's ActorSystem and registers its actor as
    /// <see cref="Raid5ArrayActor"/>. Wrap it with <see cref="Raid5Array.AttachAsync"/> for the async API.
    /// Logging goes wherever the application routes Akka's logs (e.g. Serilog through
    /// <c>ConfigureLoggers(l =&gt; l.AddLoggerFactory())</c>).
    /// </summary>
    public static AkkaConfigurationBuilder WithRaid5Array(this AkkaConfigurationBuilder builder, Raid5HostingOptions options)
    {
        var settings = Raid5Settings.Create(options.Config);
        var databasePath = Raid5ArrayConfig.DatabasePath(options.Folder, settings);
        var config = (options.Config ?? Config.Empty).WithFallback(Raid5ArrayConfig.For(databasePath, options.Name));
        builder.AddHocon(config, HoconAddMode.Append);
        builder.WithActors((system, registry) =>
        {
            var provider = options.Members ?? new FileMemberStoreProvider(options.Folder);
            var folderLock = ArrayFolderLock.Acquire(options.Folder, create: options.CreateIfMissing is not null, databasePath);
            ArrayActorSetup setup;
            try
            {
                if (options.CreateIfMissing is not null && !File.Exists(databasePath))
                {
                    var (metadata, members) = ArrayAssembly.Create(options.Folder, databasePath, provider, options.CreateIfMissing, settings);
                    setup = Raid5Array.Setup(settings, members, metadata, options.Name, options.Folder, provider);
                }
                else
                {
                    setup = Raid5Array.Setup(settings, ArrayAssembly.Open(options.Folder, databasePath, provider), null, options.Name, options.Folder, provider);
                }
            }
            catch
            {
                folderLock.Release(leaveNothing: !File.Exists(databasePath));
                throw;
            }
            system.RegisterOnTermination(folderLock.Dispose);
            SqlitePersistence.PrepareDatabase(databasePath);
            // Actor starters are synchronous and run on the host's start-up thread, not on a dispatcher.
            var actor = ArrayGuardian.StartAsync(system, ArrayActor.Props(setup), options.Name, settings.RequestTimeout).GetAwaiter().GetResult();
            registry.Register<Raid5ArrayActor>(actor);

            // Stop the array cleanly with the application (drain, flush, clear idle bitmap bits),
            // unless the app already did through Raid5Array.DisposeAsync: then the watch ends at once.
            CoordinatedShutdown.Get(system).AddTask(CoordinatedShutdown.PhaseServiceStop, $"raid5-stop-{options.Name}", async () =>
            {
                var stopped = actor.Ask<ArrayProtocol.Stopped>(ArrayProtocol.Stop.Instance, settings.RequestTimeout * 2);
                await Task.WhenAny(stopped, actor.WatchAsync()).ConfigureAwait(false);
                _ = stopped.ContinueWith(t => t.Exception, TaskContinuationOptions.OnlyOnFaulted);
                return Done.Instance;
            });
            system.WhenTerminated.ContinueWith(_ => SqlitePersistence.ReleaseDatabase(databasePath), TaskScheduler.Default);
        });
        return builder;
    }
}
